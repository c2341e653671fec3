/**
 * The records read while sealed (core/seal-config, core/root-key,
 * core/recovery-check, core/recovery-root-key) are outside the set hash, so
 * the keyring keeps a hash of them (issue 15, review 9). Putting back the
 * pre-rekey records must not revive the old shares: generate-root and rekey
 * refuse to take shares (KH_STORAGE_ROLLBACK) and the next unseal fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unsealedVault } from '../helpers/keyhold.js';

const CORE = ['core/seal-config', 'core/root-key', 'core/recovery-check', 'core/recovery-root-key'];

test('the pre-rekey seal records put back: generate-root and rekey refuse old shares, and unseal fails with KH_STORAGE_ROLLBACK', async (t) => {
  const { app, shares } = await unsealedVault(t);
  const backend = app.services.backend;
  const inject = (url: string, payload?: object) => app.api.inject({ method: 'POST', url, ...(payload ? { payload } : {}) });
  const before = new Map<string, Uint8Array | undefined>();
  for (const k of CORE) before.set(k, (await backend.get(k))?.slice());

  // Rekey: the old shares are retired.
  const { nonce } = (await inject('/v1/sys/rekey/init', { shares: 3, threshold: 2 })).json();
  await inject('/v1/sys/rekey/update', { key: shares[0]!, nonce });
  const done = (await inject('/v1/sys/rekey/update', { key: shares[1]!, nonce })).json();
  assert.equal(done.complete, true);
  const fresh: string[] = done.keys ?? done.shares;
  assert.equal(fresh.length, 3);

  // The attacker with the disk puts back the pre-rekey records under the running node.
  await backend.transaction(CORE.map((k) => (before.get(k) === undefined ? { type: 'delete' as const, key: k } : { type: 'put' as const, key: k, value: before.get(k)! })));

  const gen = (await inject('/v1/sys/generate-root/init')).json();
  const g1 = await inject('/v1/sys/generate-root/update', { key: shares[0]!, nonce: gen.nonce });
  assert.equal(g1.statusCode, 503);
  assert.equal(g1.json().error.code, 'KH_STORAGE_ROLLBACK');
  const g2 = await inject('/v1/sys/generate-root/update', { key: shares[1]!, nonce: gen.nonce });
  assert.equal(g2.json().error.code, 'KH_STORAGE_ROLLBACK', 'no root token from a quorum of old shares');

  const rk = (await inject('/v1/sys/rekey/init', { shares: 1, threshold: 1 })).json();
  assert.equal((await inject('/v1/sys/rekey/update', { key: shares[0]!, nonce: rk.nonce })).json().error.code, 'KH_STORAGE_ROLLBACK');

  // And after a restart (seal), the old shares do not unseal.
  await app.services.seal.seal();
  await inject('/v1/sys/unseal', { key: shares[0]! });
  const u = await inject('/v1/sys/unseal', { key: shares[1]! });
  assert.equal(u.json().error?.code, 'KH_STORAGE_ROLLBACK');
  assert.equal(app.services.barrier.sealed, true);
});

test('a sealed-readable record added under a running node (a recovery check beside a Shamir seal) is caught before shares are taken', async (t) => {
  const { app, shares } = await unsealedVault(t);
  await app.services.backend.transaction([{ type: 'put', key: 'core/recovery-check', value: new Uint8Array(48) }]);
  const gen = (await app.api.inject({ method: 'POST', url: '/v1/sys/generate-root/init' })).json();
  const r = await app.api.inject({ method: 'POST', url: '/v1/sys/generate-root/update', payload: { key: shares[0]!, nonce: gen.nonce } });
  assert.equal(r.json().error.code, 'KH_STORAGE_ROLLBACK');
});
