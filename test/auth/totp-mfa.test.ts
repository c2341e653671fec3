/** TOTP second factor: enrolment, MFA claims in tokens, replayed codes, recovery codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generate } from 'otplib';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { hashPassword } from '../../src/auth/password.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { amr: string[] };

test('after TOTP enrolment logins need a code, tokens carry amr otp+mfa, codes and recovery codes work once', async (t) => {
  const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' }, auth: { admin: { username: 'ops', passwordHash: await hashPassword('pw') } } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await initVault(app, 1, 1);
  await unsealVault(app, init.shares);
  const login = (extra: object = {}) => app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw', ...extra } });

  const first = (await login()).json();
  assert.deepEqual(claimsOf(first.accessToken).amr, ['pwd']);
  const { enrollmentCode } = (await app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: bearer(init.rootToken) })).json() as { enrollmentCode: string };
  const rootEnroll = await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(init.rootToken), payload: { enrollmentCode } });
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
  const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' }, auth: { admin: { username: 'ops', passwordHash: await hashPassword('pw') } } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await initVault(app, 1, 1);
  await unsealVault(app, init.shares);
  const token = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw' } })).json().accessToken as string;
  const { enrollmentCode } = (await app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: bearer(init.rootToken) })).json() as { enrollmentCode: string };
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
