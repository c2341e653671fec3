/**
 * Issue 15 H4: a password alone never becomes a second factor. Enrolling TOTP
 * needs a single-use enrolment code an administrator issued (issuing one is
 * destructive: a second factor, or the root token), and the self-service
 * routes are asked of the policy like every other route, so a bundle that
 * forbids enrollTotp is enforced.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { call, configuredVault, opsAdmin } from '../helpers/keyhold.js';
import { signed, signingKey, trusted } from '../policy/policy-fixtures.js';

const POLICY_KEY = signingKey('h4');

const vault = async (t: Pick<TestContext, 'after'>) => configuredVault(t, { auth: await opsAdmin(), policy: { trustedKeys: trusted(POLICY_KEY) } });

const loginAs = async (app: KeyholdApp, body: object) => {
  const res = await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: body });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().accessToken as string;
};

test('a password-only admin session cannot enrol its own TOTP, nor issue itself an enrolment code, so it never gains mfa', async (t) => {
  const { app, rootToken } = await vault(t);
  assert.equal((await call(app, rootToken, 'POST', '/v1/keys', { name: 'k1', type: 'aes256-gcm' })).statusCode, 200);
  const ops = await loginAs(app, { username: 'ops', password: 'ops-password' });

  // The attack of the pen test: enrol, confirm, log in again with the code, delete.
  const noCode = await call(app, ops, 'POST', '/v1/auth/totp/enroll', {});
  assert.equal(noCode.statusCode, 400, 'the enrolment code is required');
  const guessed = await call(app, ops, 'POST', '/v1/auth/totp/enroll', { enrollmentCode: '00000000000000000000000000000000' });
  assert.equal(guessed.statusCode, 403);
  assert.equal(guessed.json().error.code, 'KH_AUTH_ENROLLMENT_CODE_INVALID');
  const selfIssued = await call(app, ops, 'POST', '/v1/auth/users/ops/totp-enrollment');
  assert.equal(selfIssued.statusCode, 403, 'issuing an enrolment code is destructive: it needs a second factor');
  assert.equal(selfIssued.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  assert.equal((await call(app, ops, 'DELETE', '/v1/keys/k1')).json().error.code, 'KH_AUTH_PERMISSION_DENIED');
});

test('an administrator-issued code enrols once: confirm, then logins carry mfa; the code is single-use and the factor cannot be replaced by enrolment', async (t) => {
  const { app, rootToken } = await vault(t);
  assert.equal((await call(app, rootToken, 'POST', '/v1/keys', { name: 'k1', type: 'aes256-gcm' })).statusCode, 200);
  const issued = await call(app, rootToken, 'POST', '/v1/auth/users/ops/totp-enrollment');
  assert.equal(issued.statusCode, 200, issued.body);
  const { enrollmentCode, expiresAt } = issued.json() as { enrollmentCode: string; expiresAt: string };
  assert.ok(Date.parse(expiresAt) > Date.now());
  assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users/nobody/totp-enrollment')).json().error.code, 'KH_IDENTITY_NOT_FOUND');

  const ops = await loginAs(app, { username: 'ops', password: 'ops-password' });
  const enrol = await call(app, ops, 'POST', '/v1/auth/totp/enroll', { enrollmentCode });
  assert.equal(enrol.statusCode, 200, enrol.body);
  const again = await call(app, ops, 'POST', '/v1/auth/totp/enroll', { enrollmentCode });
  assert.equal(again.json().error.code, 'KH_AUTH_ENROLLMENT_CODE_INVALID', 'the code was spent');
  const now = Math.floor(Date.now() / 1000);
  const secret = enrol.json().secret as string;
  assert.equal((await call(app, ops, 'POST', '/v1/auth/totp/confirm', { code: await generate({ secret, epoch: now }) })).statusCode, 200);

  const mfa = await loginAs(app, { username: 'ops', password: 'ops-password', otp: await generate({ secret, epoch: now + 30 }) });
  assert.equal((await call(app, mfa, 'DELETE', '/v1/keys/k1')).statusCode, 200);
  // A confirmed factor is not replaced through enrolment, not even with a fresh code.
  assert.equal((await call(app, rootToken, 'POST', '/v1/auth/users/ops/totp-enrollment')).json().error.code, 'KH_AUTH_MFA_STATE');
});

test('the self-service routes are asked of the policy: a bundle that forbids enrollTotp is enforced', async (t) => {
  const { app, rootToken } = await vault(t);
  const policies = `
permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"admins", action, resource);
forbid(principal, action == Keyhold::Action::"enrollTotp", resource) unless { principal == Keyhold::User::"root" };`;
  const { bytes, signature } = await signed(POLICY_KEY, { version: 1, policies });
  assert.equal((await call(app, rootToken, 'POST', '/v1/sys/policy', { bundle: Buffer.from(bytes).toString('base64'), signature })).statusCode, 200);
  const { enrollmentCode } = (await call(app, rootToken, 'POST', '/v1/auth/users/ops/totp-enrollment')).json() as { enrollmentCode: string };
  const ops = await loginAs(app, { username: 'ops', password: 'ops-password' });
  const enrol = await call(app, ops, 'POST', '/v1/auth/totp/enroll', { enrollmentCode });
  assert.equal(enrol.statusCode, 403, enrol.body);
  assert.equal(enrol.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  // renew and logout are asked too: this bundle permits them to admins (ops is one).
  assert.equal((await call(app, ops, 'POST', '/v1/auth/renew')).statusCode, 200);
});

test('an enrolment code expires after 24 hours and belongs to one user', async (t) => {
  const { Totp, ENROLLMENT_CODE_TTL_MS } = await import('../../src/auth/totp.js');
  const { unsealedBarrier } = await import('../policy/policy-fixtures.js');
  const { barrier } = await unsealedBarrier(t);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const totp = new Totp(barrier, 'keyhold', () => now);
  const { enrollmentCode, expiresAt } = await totp.issueEnrollmentCode('alice');
  assert.equal(Date.parse(expiresAt), now + ENROLLMENT_CODE_TTL_MS);
  now += ENROLLMENT_CODE_TTL_MS;
  await assert.rejects(totp.enroll('alice', enrollmentCode), (e: unknown) => (e as { code?: string }).code === 'KH_AUTH_ENROLLMENT_CODE_INVALID');
  // A code is for one user: bob cannot use alice's.
  const fresh = await totp.issueEnrollmentCode('alice');
  await assert.rejects(totp.enroll('bob', fresh.enrollmentCode), (e: unknown) => (e as { code?: string }).code === 'KH_AUTH_ENROLLMENT_CODE_INVALID');
  assert.equal((await totp.enroll('alice', fresh.enrollmentCode)).recoveryCodes.length, 10);
});
