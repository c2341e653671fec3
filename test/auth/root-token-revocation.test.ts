/**
 * Issue 15 M7: root tokens are revocable (self, by accessor, with every
 * session by revoke --all), may carry a TTL, and generate-root tokens are
 * no different. Vault's advice: revoke a root token after use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';

async function generateRoot(app: KeyholdApp, shares: string[], ttlSeconds?: number): Promise<string> {
  const init = await app.api.inject({ method: 'POST', url: `/v1/sys/generate-root/init${ttlSeconds === undefined ? '' : `?ttlSeconds=${ttlSeconds}`}` });
  assert.equal(init.statusCode, 200, init.body);
  let last;
  for (const key of shares.slice(0, 2)) last = await app.api.inject({ method: 'POST', url: '/v1/sys/generate-root/update', payload: { key, nonce: init.json().nonce } });
  assert.equal(last!.json().complete, true, last!.body);
  return last!.json().rootToken as string;
}

const works = async (app: KeyholdApp, token: string) => (await app.api.inject({ url: '/v1/keys', headers: bearer(token) })).statusCode;

test('M7: a root token revokes itself; it is refused on the very next request', async (t) => {
  const v = await unsealedVault(t);
  assert.equal(await works(v.app, v.rootToken), 200);
  const revoked = await v.app.api.inject({ method: 'POST', url: '/v1/sys/root-token/revoke-self', headers: bearer(v.rootToken) });
  assert.deepEqual([revoked.statusCode, revoked.json()], [200, { revoked: 1 }]);
  const after = await v.app.api.inject({ url: '/v1/keys', headers: bearer(v.rootToken) });
  assert.deepEqual([after.statusCode, after.json().error.code], [401, 'KH_AUTH_TOKEN_INVALID']);
});

test('M7: root tokens are listed by accessor (never the token) and revoked by accessor; generate-root tokens too', async (t) => {
  const v = await unsealedVault(t);
  const second = await generateRoot(v.app, v.shares);
  const listed = (await v.app.api.inject({ url: '/v1/sys/root-tokens', headers: bearer(v.rootToken) })).json().rootTokens as { accessor: string; origin: string }[];
  assert.deepEqual(listed.map((r) => r.origin), ['init', 'generate-root']);
  assert.ok(listed.every((r) => /^khra\.[A-Za-z0-9_-]+$/.test(r.accessor)));
  assert.ok(!JSON.stringify(listed).includes(second.slice(4)) && !JSON.stringify(listed).includes(v.rootToken.slice(4)));
  const self = (await v.app.api.inject({ url: '/v1/sys/root-token/lookup-self', headers: bearer(second) })).json();
  assert.equal(self.accessor, listed[1]!.accessor);
  assert.equal(self.expiresAt, undefined);

  const revoke = (accessor: string) => v.app.api.inject({ method: 'POST', url: '/v1/sys/root-token/revoke-accessor', headers: bearer(v.rootToken), payload: { accessor } });
  assert.deepEqual((await revoke(self.accessor)).json(), { revoked: 1 });
  assert.equal(await works(v.app, second), 401);
  assert.equal(await works(v.app, v.rootToken), 200, 'the other root token is untouched');
  const again = await revoke(self.accessor);
  assert.deepEqual([again.statusCode, again.json().error.code], [404, 'KH_ROOT_TOKEN_NOT_FOUND']);
  const malformed = await revoke('not an accessor');
  assert.deepEqual([malformed.statusCode, malformed.json().error.code], [400, 'KH_BAD_REQUEST']);
});

test('M7: revoke --all revokes every root token with every session', async (t) => {
  const v = await unsealedVault(t);
  const second = await generateRoot(v.app, v.shares);
  const all = await v.app.api.inject({ method: 'POST', url: '/v1/auth/revoke', headers: bearer(v.rootToken), payload: { all: true } });
  assert.deepEqual([all.statusCode, all.json()], [200, { revoked: 2 }]);
  assert.equal(await works(v.app, v.rootToken), 401);
  assert.equal(await works(v.app, second), 401);
  // The shares still mint a new one: that is the way back in.
  assert.equal(await works(v.app, await generateRoot(v.app, v.shares)), 200);
});

test('M7: a generate-root token with a TTL stops working when it expires, and leaves the list', async (t) => {
  const v = await unsealedVault(t);
  const shortLived = await generateRoot(v.app, v.shares, 2);
  const self = (await v.app.api.inject({ url: '/v1/sys/root-token/lookup-self', headers: bearer(shortLived) })).json();
  assert.ok(Date.parse(self.expiresAt) > Date.now() && Date.parse(self.expiresAt) <= Date.now() + 2000);
  assert.equal(await works(v.app, shortLived), 200);
  await new Promise((r) => setTimeout(r, 2100));
  assert.equal(await works(v.app, shortLived), 401);
  const listed = (await v.app.api.inject({ url: '/v1/sys/root-tokens', headers: bearer(v.rootToken) })).json().rootTokens as { accessor: string }[];
  assert.deepEqual(listed.map((r) => r.accessor).includes(self.accessor), false);
  for (const [ttlSeconds, code] of [['0', 'KH_BAD_REQUEST'], ['-1', 'KH_BAD_REQUEST'], ['1.5', 'KH_BAD_REQUEST'], ['x', 'KH_BAD_REQUEST'], [String(366 * 86400 + 1), 'KH_INPUT_INVALID']]) {
    const bad = await v.app.api.inject({ method: 'POST', url: `/v1/sys/generate-root/init?ttlSeconds=${ttlSeconds}` });
    assert.deepEqual([bad.statusCode, bad.json().error.code], [400, code], ttlSeconds);
  }
});

test('M7: revoke-self with a token that is not a live root token is refused (401), revoking nothing', async (t) => {
  const v = await unsealedVault(t);
  const other = await v.app.api.inject({ method: 'POST', url: '/v1/sys/root-token/revoke-self', headers: bearer('a.b.c') });
  assert.equal(other.statusCode, 401);
});
