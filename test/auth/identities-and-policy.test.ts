/**
 * Identities end to end over HTTP: users and the default policy bundle
 * (default deny, admins allowed, destructive actions need MFA), machine
 * identities that log in by signing a challenge and must sign every request
 * (a stolen token alone is useless), key-bound user sessions, and identity
 * deletion / password change revoking sessions on the next request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { generate } from 'otplib';
import type { InjectOptions } from 'fastify';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { hashPassword } from '../../src/auth/password.js';
import { machineLoginMessage } from '../../src/auth/machines.js';
import { signRequest } from '../../src/auth/http-signature.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

async function vault(t: Parameters<typeof tempDir>[0]): Promise<{ app: KeyholdApp; rootToken: string }> {
  const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' }, auth: { admin: { username: 'ops', passwordHash: await hashPassword('ops-password') } } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const init = await initVault(app, 1, 1);
  await unsealVault(app, init.shares);
  return { app, rootToken: init.rootToken };
}

const login = async (app: KeyholdApp, body: object) => app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: body });

/** inject() with an RFC 9421 signature by `key` (the server sees http://localhost:80). */
function signed(app: KeyholdApp, key: KeyObject, token: string, req: { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object }, opts: { now?: number; bodyOverride?: string } = {}) {
  const body = req.payload === undefined ? undefined : Buffer.from(JSON.stringify(req.payload));
  const headers = signRequest({ method: req.method, targetUri: `http://localhost:80${req.url}`, authorization: `Bearer ${token}`, privateKey: key, ...(body ? { body } : {}), ...(opts.now ? { now: opts.now } : {}) });
  const options: InjectOptions = {
    method: req.method,
    url: req.url,
    headers: { ...bearer(token), ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: opts.bodyOverride ?? body } : {}),
  };
  return { send: () => app.api.inject(options), options };
}

test('a new user is denied by default; admins may act; destructive actions need a second factor', async (t) => {
  const { app, rootToken } = await vault(t);
  const created = await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name: 'alice', password: 'alice-password' } });
  assert.equal(created.statusCode, 200, created.body);
  assert.deepEqual(created.json().groups, []);
  const alice = (await login(app, { username: 'alice', password: 'alice-password' })).json().accessToken as string;
  const denied = await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(alice) });
  assert.equal(denied.statusCode, 403);
  assert.equal(denied.json().error.code, 'KH_AUTH_PERMISSION_DENIED');
  // Self-service routes: the default bundle lets everyone act on their own session.
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/renew', headers: bearer(alice) })).statusCode, 200);

  const ops = (await login(app, { username: 'ops', password: 'ops-password' })).json().accessToken as string;
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(ops), payload: { name: 'k1', type: 'aes256-gcm' } })).statusCode, 200);
  const del = await app.api.inject({ method: 'DELETE', url: '/v1/keys/k1', headers: bearer(ops) });
  assert.equal(del.json().error.code, 'KH_AUTH_PERMISSION_DENIED', 'scheduling a deletion is destructive: MFA required');

  const { enrollmentCode } = (await app.api.inject({ method: 'POST', url: '/v1/auth/users/ops/totp-enrollment', headers: bearer(rootToken) })).json() as { enrollmentCode: string };
  const enrol = (await app.api.inject({ method: 'POST', url: '/v1/auth/totp/enroll', headers: bearer(ops), payload: { enrollmentCode } })).json();
  const now = Math.floor(Date.now() / 1000);
  await app.api.inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: bearer(ops), payload: { code: await generate({ secret: enrol.secret, epoch: now }) } });
  const mfa = (await login(app, { username: 'ops', password: 'ops-password', otp: await generate({ secret: enrol.secret, epoch: now + 30 }) })).json().accessToken as string;
  const del2 = await app.api.inject({ method: 'DELETE', url: '/v1/keys/k1', headers: bearer(mfa) });
  assert.equal(del2.statusCode, 200, del2.body);

  // The root token counts as multi-factor (a quorum produced it).
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/sys/rotate', headers: bearer(rootToken) })).statusCode, 200);
});

test('deleting a user or changing its password revokes its sessions on the next request', async (t) => {
  const { app, rootToken } = await vault(t);
  for (const name of ['bob', 'carol'])
    await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name, password: 'long-password', groups: ['admins'] } });
  const bob = (await login(app, { username: 'bob', password: 'long-password' })).json().accessToken as string;
  const carol = (await login(app, { username: 'carol', password: 'long-password' })).json().accessToken as string;
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(bob) })).statusCode, 200);
  const pw = await app.api.inject({ method: 'POST', url: '/v1/auth/users/bob/password', headers: bearer(rootToken), payload: { password: 'new-long-password' } });
  assert.equal(pw.json().sessionsRevoked, 1);
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(bob) })).json().error.code, 'KH_AUTH_SESSION_REVOKED');
  assert.equal((await login(app, { username: 'bob', password: 'long-password' })).json().error.code, 'KH_AUTH_LOGIN_FAILED');
  assert.equal((await login(app, { username: 'bob', password: 'new-long-password' })).statusCode, 200);

  assert.equal((await app.api.inject({ method: 'DELETE', url: '/v1/auth/users/carol', headers: bearer(rootToken) })).statusCode, 200);
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(carol) })).json().error.code, 'KH_AUTH_SESSION_REVOKED');
  assert.equal((await login(app, { username: 'carol', password: 'long-password' })).json().error.code, 'KH_AUTH_LOGIN_FAILED');
  const list = (await app.api.inject({ method: 'GET', url: '/v1/auth/users', headers: bearer(rootToken) })).json();
  assert.deepEqual(list.users.map((u: { name: string }) => u.name), ['bob', 'ops']);
  const dup = await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(rootToken), payload: { name: 'ops', password: 'long-password' } });
  assert.equal(dup.json().error.code, 'KH_IDENTITY_EXISTS');
});

for (const kind of ['ed25519', 'p-256'] as const) {
  test(`a ${kind} machine logs in by signing a challenge; its token works only on requests signed with its key`, async (t) => {
    const { app, rootToken } = await vault(t);
    const { privateKey, publicKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const reg = await app.api.inject({
      method: 'POST',
      url: '/v1/auth/machines',
      headers: bearer(rootToken),
      payload: { name: 'builder', publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(), groups: ['admins'] },
    });
    assert.equal(reg.statusCode, 200, reg.body);
    const signChallenge = (challenge: string, key = privateKey) =>
      (kind === 'ed25519' ? cryptoSign(null, machineLoginMessage('keyhold', 'builder', challenge), key) : cryptoSign('sha256', machineLoginMessage('keyhold', 'builder', challenge), { key, dsaEncoding: 'ieee-p1363' })).toString('base64url');
    const challenge = async () => (await app.api.inject({ method: 'POST', url: '/v1/auth/machine/challenge', payload: { name: 'builder' } })).json().challenge as string;

    const other = kind === 'ed25519' ? generateKeyPairSync('ed25519').privateKey : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const c0 = await challenge();
    const wrongKey = await app.api.inject({ method: 'POST', url: '/v1/auth/machine/login', payload: { name: 'builder', challenge: c0, signature: signChallenge(c0, other) } });
    assert.equal(wrongKey.json().error.code, 'KH_AUTH_CHALLENGE_INVALID');
    const reused = await app.api.inject({ method: 'POST', url: '/v1/auth/machine/login', payload: { name: 'builder', challenge: c0, signature: signChallenge(c0) } });
    assert.equal(reused.json().error.code, 'KH_AUTH_CHALLENGE_INVALID', 'a challenge is spent by any attempt');

    const c1 = await challenge();
    const ok = await app.api.inject({ method: 'POST', url: '/v1/auth/machine/login', payload: { name: 'builder', challenge: c1, signature: signChallenge(c1) } });
    assert.equal(ok.statusCode, 200, ok.body);
    const token = ok.json().accessToken as string;
    assert.equal(ok.json().boundTo.jkt, reg.json().jkt);

    const stolen = await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(token) });
    assert.equal(stolen.json().error.code, 'KH_SIG_MISSING', 'a stolen bound token alone is refused');
    const good = signed(app, privateKey, token, { method: 'POST', url: '/v1/keys', payload: { name: 'm1', type: 'aes256-gcm' } });
    const r = await good.send();
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await good.send()).json().error.code, 'KH_SIG_REPLAYED');
    const byOther = await signed(app, other, token, { method: 'GET', url: '/v1/keys' }).send();
    assert.equal(byOther.json().error.code, 'KH_SIG_KEY_MISMATCH');
    const old = await signed(app, privateKey, token, { method: 'GET', url: '/v1/keys' }, { now: Date.now() - 120_000 }).send();
    assert.equal(old.json().error.code, 'KH_SIG_EXPIRED');
    const swapped = await signed(app, privateKey, token, { method: 'POST', url: '/v1/keys/m1/encrypt', payload: { plaintext: 'AAAA' } }, { bodyOverride: JSON.stringify({ plaintext: 'BBBB' }) }).send();
    assert.equal(swapped.json().error.code, 'KH_SIG_DIGEST_MISMATCH');
    const moved = signed(app, privateKey, token, { method: 'GET', url: '/v1/keys' });
    const elsewhere = await app.api.inject({ ...moved.options, url: '/v1/keys/m1' });
    assert.equal(elsewhere.json().error.code, 'KH_SIG_INVALID', 'a signature for one URI does not authorise another');
    const enc = await signed(app, privateKey, token, { method: 'POST', url: '/v1/keys/m1/encrypt', payload: { plaintext: 'AAAA' } }).send();
    assert.equal(enc.statusCode, 200, enc.body);

    assert.equal((await app.api.inject({ method: 'DELETE', url: '/v1/auth/machines/builder', headers: bearer(rootToken) })).json().sessionsRevoked, 1);
    assert.equal((await signed(app, privateKey, token, { method: 'GET', url: '/v1/keys' }).send()).json().error.code, 'KH_AUTH_SESSION_REVOKED');
  });
}

test('a user may bind a session to a key it holds; the tokens then need signed requests', async (t) => {
  const { app } = await vault(t);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const res = await login(app, { username: 'ops', password: 'ops-password', bindKey: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } });
  assert.equal(res.statusCode, 200, res.body);
  const token = res.json().accessToken as string;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  assert.equal(claims.cnf.jkt, res.json().boundTo.jkt);
  assert.equal((await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(token) })).json().error.code, 'KH_SIG_MISSING');
  assert.equal((await signed(app, privateKey, token, { method: 'GET', url: '/v1/keys' }).send()).statusCode, 200);
  const withPrivate = await login(app, { username: 'ops', password: 'ops-password', bindKey: { ...jwk, d: 'AAAA' } });
  assert.equal(withPrivate.statusCode, 400, 'private key members are refused');
});
