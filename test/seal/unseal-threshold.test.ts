import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, initVault, testVault, unsealVault } from '../helpers/keyhold.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';

test('init returns the shares and a root token once and leaves the vault sealed', async (t) => {
  const { app } = await testVault(t);
  const before = (await app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.equal(before.initialized, false);
  const init = await initVault(app, 5, 3);
  assert.equal(init.shares.length, 5);
  assert.equal(new Set(init.shares).size, 5);
  assert.match(init.rootToken, /^khr\./);
  const after = (await app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.deepEqual({ ...after, version: undefined }, { type: 'shamir', recoverySeal: false, migration: false, initialized: true, sealed: true, threshold: 3, shares: 5, progress: 0, version: undefined, storage: 'sqlite' });
  const again = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload: { shares: 1, threshold: 1 } });
  assert.equal(again.statusCode, 409);
  assert.equal(again.json().error.code, 'KH_ALREADY_INITIALIZED');
});

test('unseal reports progress and opens at the threshold with any subset of shares', async (t) => {
  const { app } = await testVault(t);
  const { shares, rootToken } = await initVault(app, 5, 3);
  const r1 = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[4] } });
  assert.equal(r1.json().progress, 1);
  assert.equal(r1.json().sealed, true);
  const r2 = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[1] } });
  assert.equal(r2.json().progress, 2);
  const r3 = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[2] } });
  assert.equal(r3.json().sealed, false);
  assert.equal(r3.json().progress, 0);
  const ks = await app.api.inject({ url: '/v1/sys/key-status', headers: bearer(rootToken) });
  assert.equal(ks.statusCode, 200);
  const again = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  assert.equal(again.statusCode, 409);
  assert.equal(again.json().error.code, 'KH_ALREADY_UNSEALED');
});

test('malformed, duplicate and wrong shares get distinct stable codes; a wrong set resets progress', async (t) => {
  const { app } = await testVault(t);
  const { shares } = await initVault(app, 3, 2);
  const other = await testVault(t);
  const foreign = (await initVault(other.app, 3, 2)).shares;

  for (const key of ['not base64!', 'AAAA', shares[0]!.slice(0, -4), `${shares[0]}AAAA`]) {
    const r = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key } });
    assert.equal(r.statusCode, 400, key);
    assert.equal(r.json().error.code, 'KH_UNSEAL_SHARE_MALFORMED');
  }
  await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  const dup = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  assert.equal(dup.json().error.code, 'KH_UNSEAL_SHARE_DUPLICATE');

  // A share from another vault (different x or same x) must not unseal; the
  // failure message is the same whatever went wrong.
  const wrong = foreign.find((s) => s.slice(-4) !== shares[0]!.slice(-4)) ?? foreign[1]!;
  const bad = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: wrong } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'KH_UNSEAL_FAILED');
  const status = (await app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.equal(status.sealed, true);
  assert.equal(status.progress, 0);

  await unsealVault(app, [shares[2]!, shares[1]!]);
  assert.equal((await app.api.inject({ url: '/v1/sys/seal-status' })).json().sealed, false);
});

test('unseal reset discards submitted shares', async (t) => {
  const { app } = await testVault(t);
  const { shares } = await initVault(app, 3, 2);
  await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  const r = await app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { reset: true } });
  assert.equal(r.json().progress, 0);
});

test('invalid share counts and thresholds are refused', async (t) => {
  const { app } = await testVault(t);
  for (const payload of [{ shares: 0, threshold: 0 }, { shares: 3, threshold: 4 }, { shares: 3, threshold: 1 }, { shares: 256, threshold: 2 }, { shares: 2.5, threshold: 2 }]) {
    const r = await app.api.inject({ method: 'POST', url: '/v1/sys/init', payload });
    assert.equal(r.statusCode, 400, JSON.stringify(payload));
    assert.match(r.json().error.code, /^KH_(SEAL_PARAMS_INVALID|BAD_REQUEST)$/);
  }
  assert.equal((await app.api.inject({ url: '/v1/sys/seal-status' })).json().initialized, false);
});

test('seal wipes the keyring: protected routes answer 503 KH_SEALED until unsealed again', async (t) => {
  const { app } = await testVault(t);
  const { shares, rootToken } = await initVault(app, 3, 2);
  await unsealVault(app, shares.slice(0, 2));
  const sealed = await app.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(rootToken) });
  assert.equal(sealed.statusCode, 200);
  assert.equal(sealed.json().sealed, true);
  assert.equal(app.services.barrier.sealed, true);
  const refused = await app.api.inject({ url: '/v1/sys/key-status', headers: bearer(rootToken) });
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.json().error.code, 'KH_SEALED');
  await unsealVault(app, shares.slice(1, 3));
  assert.equal((await app.api.inject({ url: '/v1/sys/key-status', headers: bearer(rootToken) })).statusCode, 200);
});

test('a restart comes up sealed and the same shares and token work again', async (t) => {
  const v = await testVault(t);
  const { shares, rootToken } = await initVault(v.app, 3, 2);
  await unsealVault(v.app, shares.slice(0, 2));
  await v.app.api.inject({ method: 'POST', url: '/v1/sys/rotate', headers: bearer(rootToken) });
  await v.app.close();

  const again = await buildKeyhold(v.app.config, { logger: false });
  t.after(() => again.close());
  const status = (await again.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.equal(status.initialized, true);
  assert.equal(status.sealed, true);
  await unsealVault(again, shares.slice(1, 3));
  const ks = await again.api.inject({ url: '/v1/sys/key-status', headers: bearer(rootToken) });
  assert.equal(ks.json().term, 2);
});

test('rekey issues new shares with a new threshold; old shares stop working', async (t) => {
  const v = await testVault(t);
  const { shares, rootToken } = await initVault(v.app, 3, 2);
  await unsealVault(v.app, shares.slice(0, 2));
  const started = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/init', payload: { shares: 5, threshold: 3 } });
  assert.equal(started.statusCode, 200);
  const { nonce } = started.json();
  const busy = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/init', payload: { shares: 2, threshold: 2 } });
  assert.equal(busy.json().error.code, 'KH_REKEY_IN_PROGRESS');
  const badNonce = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[0], nonce: 'nope' } });
  assert.equal(badNonce.json().error.code, 'KH_REKEY_NONCE_MISMATCH');
  const u1 = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[0], nonce } });
  assert.deepEqual([u1.json().complete, u1.json().progress, u1.json().required], [false, 1, 2]);
  const u2 = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[2], nonce } });
  const done = u2.json();
  assert.equal(done.complete, true);
  assert.equal(done.shares.length, 5);
  const none = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[0], nonce } });
  assert.equal(none.json().error.code, 'KH_REKEY_NOT_STARTED');

  await v.app.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(rootToken) });
  const status = (await v.app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.deepEqual([status.shares, status.threshold], [5, 3]);
  // Old shares: two of them no longer reach the (new) threshold, and with a third new-format count they fail.
  await v.app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  await v.app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[1] } });
  const old = await v.app.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[2] } });
  assert.equal(old.json().error.code, 'KH_UNSEAL_FAILED');
  await unsealVault(v.app, [done.shares[4], done.shares[0], done.shares[2]]);
  assert.equal((await v.app.api.inject({ url: '/v1/sys/seal-status' })).json().sealed, false);
});

test('rekey with a wrong share fails without changing the seal, and can be cancelled', async (t) => {
  const v = await testVault(t);
  const { shares } = await initVault(v.app, 3, 2);
  await unsealVault(v.app, shares.slice(0, 2));
  const other = await testVault(t);
  const foreign = (await initVault(other.app, 3, 2)).shares;
  const { nonce } = (await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/init', payload: { shares: 2, threshold: 2 } })).json();
  await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[0], nonce } });
  const wrong = foreign.find((s) => s.slice(-4) !== shares[0]!.slice(-4))!;
  const r = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: wrong, nonce } });
  assert.equal(r.json().error.code, 'KH_UNSEAL_FAILED');
  const s = (await v.app.api.inject({ url: '/v1/sys/seal-status' })).json();
  assert.deepEqual([s.shares, s.threshold], [3, 2]);
  const n2 = (await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/init', payload: { shares: 2, threshold: 2 } })).json().nonce;
  const cancel = await v.app.api.inject({ method: 'DELETE', url: '/v1/sys/rekey/init' });
  assert.equal(cancel.json().started, false);
  const late = await v.app.api.inject({ method: 'POST', url: '/v1/sys/rekey/update', payload: { key: shares[0], nonce: n2 } });
  assert.equal(late.json().error.code, 'KH_REKEY_NOT_STARTED');
});

test('a tampered seal configuration cannot lower the threshold', async (t) => {
  const v = await testVault(t);
  const { shares } = await initVault(v.app, 3, 2);
  const { backend } = v.app.services;
  const cfg = JSON.parse(new TextDecoder().decode(await backend.get('core/seal-config')));
  await backend.put('core/seal-config', new TextEncoder().encode(JSON.stringify({ ...cfg, threshold: 2, shares: 3, initializedAt: 'x' })));
  await v.app.close();
  const again = await buildKeyhold(v.app.config, { logger: false });
  t.after(() => again.close());
  await again.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[0] } });
  const r = await again.api.inject({ method: 'POST', url: '/v1/sys/unseal', payload: { key: shares[1] } });
  assert.equal(r.json().error.code, 'KH_UNSEAL_FAILED');
});
