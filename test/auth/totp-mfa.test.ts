/** TOTP second factor: enrolment, MFA claims in tokens, replayed codes, recovery codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { bearer, configuredVault, opsAdmin } from '../helpers/keyhold.js';

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { amr: string[] };

test('after TOTP enrolment logins need a code, tokens carry amr otp+mfa, codes and recovery codes work once', async (t) => {
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin('pw') });
  const login = (extra: object = {}) => app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw', ...extra } });

  const first = (await login()).json();
  assert.deepEqual(claimsOf(first.accessToken).amr, ['pwd']);
  const { enrollmentCode } = (await app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: bearer(rootToken) })).json() as { enrollmentCode: string };
  const rootEnroll = await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(rootToken), payload: { enrollmentCode } });
  assert.equal(rootEnroll.json().error.code, 'KH_AUTH_SESSION_REQUIRED');
  const enrol = (await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(first.accessToken), payload: { enrollmentCode } })).json();
  assert.match(enrol.uri, /^otpauth:\/\/totp\/keyhold:ops\?/);
  assert.equal(enrol.recoveryCodes.length, 10);
  const bad = await app.api.inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: bearer(first.accessToken), payload: { code: '000000' } });
  assert.equal(bad.json().error.code, 'KH_AUTH_MFA_FAILED');
  // An authenticator app computes the same code from the secret (otplib here).
  const code = await generate({ secret: enrol.secret });
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: bearer(first.accessToken), payload: { code } })).statusCode, 200);

  assert.equal((await login()).json().error.code, 'KH_AUTH_MFA_REQUIRED');
  // The confirmation code is spent: replaying it within its window fails.
  assert.equal((await login({ otp: code })).json().error.code, 'KH_AUTH_MFA_FAILED');
  const withRecovery = (await login({ recoveryCode: enrol.recoveryCodes[3] })).json();
  assert.deepEqual(claimsOf(withRecovery.accessToken).amr, ['pwd', 'mfa']);
  assert.equal((await login({ recoveryCode: enrol.recoveryCodes[3] })).json().error.code, 'KH_AUTH_MFA_FAILED', 'a recovery code works once');
  const again = await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(withRecovery.accessToken), payload: { enrollmentCode } });
  assert.equal(again.json().error.code, 'KH_AUTH_MFA_STATE');
});

test('a later TOTP code logs in with amr pwd, otp, mfa', async (t) => {
  const { app, rootToken } = await configuredVault(t, { auth: await opsAdmin('pw') });
  const token = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw' } })).json().accessToken as string;
  const { enrollmentCode } = (await app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: bearer(rootToken) })).json() as { enrollmentCode: string };
  const enrol = (await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(token), payload: { enrollmentCode } })).json();
  // Confirm with the current period's code, log in with the next period's (accepted within the 30 s tolerance).
  const now = Math.floor(Date.now() / 1000);
  const current = await generate({ secret: enrol.secret, epoch: now });
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: bearer(token), payload: { code: current } })).statusCode, 200);
  const next = await generate({ secret: enrol.secret, epoch: now + 30 });
  const r = await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw', otp: next } });
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual(claimsOf(r.json().accessToken).amr, ['pwd', 'otp', 'mfa']);
});
