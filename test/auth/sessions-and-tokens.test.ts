/** Password login, short-lived EdDSA access tokens, renewal, immediate revocation, signing-key rotation, lockout. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { hashPassword } from '../../src/auth/password.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const PASSWORD = 'correct horse battery staple';
let passwordHash: string | undefined;

async function vaultWithAdmin(t: TestContext) {
  passwordHash ??= await hashPassword(PASSWORD);
  const config = resolveConfig({ storage: { path: join(tempDir(t), 'k.db') }, log: { level: 'silent' }, auth: { admin: { username: 'ops', passwordHash }, tokenTtlSeconds: 60 } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  const login = (username = 'ops', password = PASSWORD) => app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
  return { app, rootToken, login };
}

test('login returns an EdDSA at+jwt that verifies with the JWKS and works as a bearer token', async (t) => {
  const { app, login } = await vaultWithAdmin(t);
  const r = await login();
  assert.equal(r.statusCode, 200, r.body);
  const { accessToken, expiresIn, sessionId } = r.json();
  assert.ok(expiresIn > 50 && expiresIn <= 60);
  const [h, p, s] = (accessToken as string).split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString());
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
  assert.deepEqual([header.alg, header.typ], ['EdDSA', 'at+jwt']);
  assert.deepEqual([claims.sub, claims.sid, claims.amr, claims.iss, claims.aud], ['user:ops', sessionId, ['pwd'], 'keyhold', 'keyhold']);
  assert.equal(claims.exp - claims.iat, 60);
  // Independent check: node:crypto verifies the signature with the JWKS key.
  const jwks = (await app.api.inject({ url: '/v1/auth/jwks' })).json();
  const jwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
  assert.equal(verify(null, Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s!, 'base64url')), true);

  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(accessToken), payload: { name: 'k' } })).statusCode, 200);
  const intro = (await app.api.inject({ method: 'POST', url: '/v1/auth/introspect', headers: bearer(accessToken), payload: { token: accessToken } })).json();
  assert.deepEqual([intro.active, intro.sub], [true, 'user:ops']);
});

test('a revoked session is refused on the very next request; logout and revoke-all work too', async (t) => {
  const { app, rootToken, login } = await vaultWithAdmin(t);
  const a = (await login()).json();
  const b = (await login()).json();
  const use = (token: string) => app.api.inject({ url: '/v1/keys', headers: bearer(token) });
  assert.equal((await use(a.accessToken)).statusCode, 200);
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/revoke', headers: bearer(rootToken), payload: { sessionId: a.sessionId } })).json().revoked, 1);
  const refused = await use(a.accessToken);
  assert.deepEqual([refused.statusCode, refused.json().error.code], [401, 'KH_AUTH_SESSION_REVOKED']);
  assert.equal((await use(b.accessToken)).statusCode, 200, 'other sessions are untouched');
  const renewed = (await app.api.inject({ method: 'POST', url: '/v1/auth/renew', headers: bearer(b.accessToken) })).json();
  assert.equal(renewed.sessionId, b.sessionId);
  assert.equal((await app.api.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(renewed.accessToken) })).json().revoked, 1);
  assert.equal((await use(b.accessToken)).json().error.code, 'KH_AUTH_SESSION_REVOKED', 'logout ends every token of the session');
  const c = (await login()).json();
  await app.api.inject({ method: 'POST', url: '/v1/auth/revoke', headers: bearer(rootToken), payload: { subject: 'user:ops' } });
  assert.equal((await use(c.accessToken)).json().error.code, 'KH_AUTH_SESSION_REVOKED');
  const rootRenew = await app.api.inject({ method: 'POST', url: '/v1/auth/renew', headers: bearer(rootToken) });
  assert.equal(rootRenew.json().error.code, 'KH_AUTH_SESSION_REQUIRED');
});

test('expired, tampered and foreign tokens are refused with distinct codes', async (t) => {
  const { app, login } = await vaultWithAdmin(t);
  const { accessToken } = (await login()).json();
  const { accessTokens } = app.services;
  await assert.rejects(accessTokens.verify(accessToken, Date.now() + 61_000), { code: 'KH_AUTH_TOKEN_EXPIRED' });
  const [h, p, s] = (accessToken as string).split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}.${s}`;
  // A signature with one character in the middle changed (the last characters carry padding bits).
  const flipped = `${s!.slice(0, 10)}${s![10] === 'A' ? 'B' : 'A'}${s!.slice(11)}`;
  for (const bad of [forged, `${h}.${p}.${flipped}`, `${h}.${p}`]) {
    const r = await app.api.inject({ url: '/v1/keys', headers: bearer(bad) });
    assert.deepEqual([r.statusCode, r.json().error.code], [401, 'KH_AUTH_TOKEN_INVALID'], bad.slice(-10));
  }
  const introspected = (await app.api.inject({ method: 'POST', url: '/v1/auth/introspect', headers: bearer(accessToken), payload: { token: forged } })).json();
  assert.deepEqual(introspected, { active: false });
});

test('signing-key rotation: new tokens use the new key, old tokens verify during the overlap', async (t) => {
  const { app, rootToken, login } = await vaultWithAdmin(t);
  const before = (await login()).json().accessToken as string;
  const rotated = (await app.api.inject({ method: 'POST', url: '/v1/auth/signing-key/rotate', headers: bearer(rootToken) })).json();
  const after = (await login()).json().accessToken as string;
  const kid = (tok: string) => JSON.parse(Buffer.from(tok.split('.')[0]!, 'base64url').toString()).kid as string;
  assert.equal(kid(after), rotated.kid);
  assert.notEqual(kid(before), rotated.kid);
  assert.equal((await app.api.inject({ url: '/v1/auth/jwks' })).json().keys.length, 2);
  assert.equal((await app.api.inject({ url: '/v1/keys', headers: bearer(before) })).statusCode, 200);
  // After the overlap (one token lifetime) the old key is no longer published.
  const later = Date.now() + 61_000;
  await assert.rejects(app.services.accessTokens.verify(before, later));
});

test('wrong passwords and unknown users get one answer; repeated failures lock the account with Retry-After', async (t) => {
  const { login } = await vaultWithAdmin(t);
  const wrong = await login('ops', 'nope');
  const unknown = await login('mallory', 'nope');
  assert.deepEqual([wrong.statusCode, wrong.json().error.code, wrong.json().error.message], [401, 'KH_AUTH_LOGIN_FAILED', 'Invalid username or password.']);
  assert.deepEqual([unknown.json().error.code, unknown.json().error.message], ['KH_AUTH_LOGIN_FAILED', 'Invalid username or password.']);
  await login('ops', 'nope');
  await login('ops', 'nope');
  const locked = await login('ops', PASSWORD);
  assert.equal(locked.statusCode, 429);
  assert.equal(locked.json().error.code, 'KH_AUTH_LOCKED');
  assert.ok(Number(locked.headers['retry-after']) >= 1);
});
