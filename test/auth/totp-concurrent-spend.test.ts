/**
 * Review finding 11 (issue 15): an enrolment code, a recovery code and a
 * TOTP code were read, checked and only then spent, with nothing between
 * concurrent requests: several passed on one code. Each is now spent under
 * a per-user lock, so of N concurrent uses exactly one succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { Totp } from '../../src/auth/totp.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

const CONCURRENT = 8;
const succeeded = (results: PromiseSettledResult<unknown>[]) => results.filter((r) => r.status === 'fulfilled' && r.value !== undefined).length;

test('one enrolment code enrols once, however many requests spend it at the same time (over HTTP)', async (t) => {
  const v = await unsealedVault(t);
  const root = bearer(v.rootToken);
  const created = await v.app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: root, payload: { name: 'ops', password: 'ops-password', groups: ['admins'] } });
  assert.equal(created.statusCode, 200, created.body);
  const code = (await v.app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: root })).json().enrollmentCode as string;
  const token = (await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'ops-password' } })).json().accessToken as string;
  const answers = await Promise.all(
    Array.from({ length: CONCURRENT }, () => v.app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(token), payload: { enrollmentCode: code } })),
  );
  assert.deepEqual(
    answers.map((a) => a.statusCode).sort(),
    [200, ...Array<number>(CONCURRENT - 1).fill(403)],
    answers.map((a) => a.body).join('\n'),
  );
  assert.ok(answers.filter((a) => a.statusCode === 403).every((a) => a.json().error.code === 'KH_AUTH_ENROLLMENT_CODE_INVALID'));
});

test('a recovery code and a TOTP code are each accepted once under concurrent use', async (t) => {
  const v = await unsealedVault(t);
  const totp = new Totp(v.app.services.barrier, 'Keyhold');
  const { enrollmentCode } = await totp.issueEnrollmentCode('alice');
  const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => totp.enroll('alice', enrollmentCode)));
  assert.equal(succeeded(settled), 1);
  const { secret, recoveryCodes } = (settled.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ secret: string; recoveryCodes: string[] }>).value;
  const epoch = Math.floor(Date.now() / 1000);
  await totp.confirm('alice', await generate({ secret, epoch: epoch - 30 }));

  const recovery = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => totp.verifySecondFactor('alice', { recoveryCode: recoveryCodes[0]! })));
  assert.equal(succeeded(recovery), 1);

  const otp = await generate({ secret, epoch });
  const otps = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => totp.verifySecondFactor('alice', { otp })));
  assert.equal(succeeded(otps), 1);
});
