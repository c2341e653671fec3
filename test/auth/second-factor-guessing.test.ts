/**
 * Review finding 2 (issue 15): with the password known, wrong OTP codes were
 * counted only per (account, address) and per address, so 400 IPv6 /64s
 * made 1,200 guesses unthrottled. Wrong second factors are now counted per
 * account (only a password holder can cause them, so no stranger can trip
 * the lock), and the account's second factor locks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { LoginThrottle, secondFactorStats } from '../../src/auth/login-throttle.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

test('wrong OTP codes from many /64s lock the account’s second factor; strangers are not told, metrics count it', async (t) => {
  const v = await unsealedVault(t);
  const root = bearer(v.rootToken);
  await v.app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: root, payload: { name: 'ops', password: 'ops-password', groups: ['admins'] } });
  const code = (await v.app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: root })).json().enrollmentCode as string;
  const ops = (await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'ops-password' } })).json().accessToken as string;
  const secret = (await v.app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(ops), payload: { enrollmentCode: code } })).json().secret as string;
  const confirmed = await v.app.api.inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: bearer(ops), payload: { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }) } });
  assert.equal(confirmed.statusCode, 200, confirmed.body);

  const before = secondFactorStats();
  const counts: Record<string, number> = {};
  let guess = 0;
  // The probe's attack, scaled down: 3 wrong codes from each of 20 /64s (fresh addresses never hit the per-address locks).
  for (let a = 0; a < 20; a++) {
    for (let g = 0; g < 3; g++) {
      const otp = String(100000 + guess++);
      const r = await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: `2001:db8:${a.toString(16)}::1`, payload: { username: 'ops', password: 'ops-password', otp } });
      const c = (r.json().error?.code as string | undefined) ?? String(r.statusCode);
      counts[c] = (counts[c] ?? 0) + 1;
      if (c === 'KH_AUTH_MFA_LOCKED') assert.ok(Number(r.headers['retry-after']) >= 1);
    }
  }
  const checked = secondFactorStats().failures - before.failures;
  t.diagnostic(`60 wrong OTP codes from 20 /64s: ${JSON.stringify(counts)}; codes actually checked: ${checked}`);
  assert.equal(counts['200'], undefined);
  assert.ok((counts.KH_AUTH_MFA_LOCKED ?? 0) >= 45, JSON.stringify(counts));
  // 5 free, then one per lapsed lock (1 s, 2 s, 4 s, ... while the attack runs).
  assert.ok(checked <= 12, `checked ${checked}`);
  assert.ok(secondFactorStats().locks > before.locks);

  // A stranger without the password learns nothing about the lock, and is not refused by it.
  const stranger = await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: '192.0.2.77', payload: { username: 'ops', password: 'guess', otp: '123456' } });
  assert.equal(stranger.json().error.code, 'KH_AUTH_LOGIN_FAILED');

  // A recovery code is a second factor too: refused while locked.
  const recovery = await v.app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: '192.0.2.78', payload: { username: 'ops', password: 'ops-password', recoveryCode: 'ffffffffffffffffffff' } });
  assert.equal(recovery.json().error.code, 'KH_AUTH_MFA_LOCKED');

  const metrics = await v.app.health.inject({ url: '/metrics' });
  assert.match(metrics.body, /keyhold_login_second_factor_locks_total [1-9]/);
});

test('second-factor lock: 5 free failures, doubling lock, cleared by a right factor; recovery codes share the count', async () => {
  const throttle = new LoginThrottle();
  const warnings: object[] = [];
  const log = { warn: (facts: object) => warnings.push(facts) };
  const wrong = () => Promise.resolve(undefined);
  const right = () => Promise.resolve(['otp', 'mfa']);
  const t0 = 1_000_000;
  for (let i = 0; i < 4; i++) assert.equal(await throttle.secondFactor('user:ops', wrong, log, t0), undefined);
  assert.equal(warnings.length, 0);
  assert.equal(await throttle.secondFactor('user:ops', wrong, log, t0), undefined);
  assert.equal(warnings.length, 1);
  assert.deepEqual(warnings[0], { account: 'user:ops', failures: 5, lockedForSeconds: 1 });
  // Locked: even the right factor is not checked (the owner waits too), and the check never runs.
  let ran = false;
  await assert.rejects(
    throttle.secondFactor('user:ops', async () => ((ran = true), ['mfa']), log, t0 + 500),
    (e: Error & { code?: string; retryAfterSeconds?: number }) => e.code === 'KH_AUTH_MFA_LOCKED' && e.retryAfterSeconds === 1,
  );
  assert.equal(ran, false);
  // Other accounts are untouched.
  assert.deepEqual(await throttle.secondFactor('user:alice', right, log, t0 + 500), ['otp', 'mfa']);
  // The next failure after the lock lapses doubles it.
  assert.equal(await throttle.secondFactor('user:ops', wrong, log, t0 + 1_000), undefined);
  await assert.rejects(throttle.secondFactor('user:ops', right, log, t0 + 2_500), { code: 'KH_AUTH_MFA_LOCKED' });
  // A right factor after the lock clears the count: 5 free failures again.
  assert.deepEqual(await throttle.secondFactor('user:ops', right, log, t0 + 3_000), ['otp', 'mfa']);
  for (let i = 0; i < 4; i++) await throttle.secondFactor('user:ops', wrong, log, t0 + 3_000);
  assert.deepEqual(await throttle.secondFactor('user:ops', right, log, t0 + 3_000), ['otp', 'mfa']);
});
