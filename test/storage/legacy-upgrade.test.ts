/**
 * A store written before the storage generation (records version 1, a
 * keyring record without a storage state) is upgraded once at unseal: every
 * record re-encrypted at generation 1 and the state computed over them, in
 * one transaction; the policy engine then moves its floor and active bundle
 * into the keyring. After that, a pre-upgrade row put back is a rollback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Barrier } from '../../src/barrier/barrier.js';
import { Keyring } from '../../src/barrier/keyring.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { aesGcmEncrypt } from '../../src/crypto/aes-gcm.js';
import { concatBytes, utf8 } from '../../src/crypto/bytes.js';
import { bundleSha256 } from '../../src/policy/bundle.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { tempDir } from '../helpers/temp-dir.js';
import { signed, signingKey, trusted } from '../policy/policy-fixtures.js';

const KEY = signingKey('legacy');

/** A version 1 record exactly as the barrier wrote it before: 1 | term | AES-GCM(AAD "keyhold-barrier-v1" 0 path 0 term). */
function legacyRecord(ring: Keyring, path: string, value: Uint8Array): Uint8Array {
  const { term, key } = ring.activeKey();
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, term);
  const aad = concatBytes(utf8('keyhold-barrier-v1\0'), utf8(path), new Uint8Array([0]), t);
  return concatBytes(new Uint8Array([1]), t, aesGcmEncrypt(key, value, aad));
}

test('a store from before the storage generation is upgraded once at unseal; its policy floor and bundle move into the keyring; old rows put back are rollbacks', async (t) => {
  const path = join(tempDir(t), 'legacy.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const ring = Keyring.generate();
  const bundle = await signed(KEY, { version: 4, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  const rows: [string, Uint8Array][] = [
    ['data/x', utf8('x-value')],
    ['policy/bundle', utf8(JSON.stringify({ bundle: Buffer.from(bundle.bytes).toString('base64'), signature: bundle.signature }))],
    ['policy/version', utf8(JSON.stringify({ highest: 5 }))],
  ];
  let backend = new SqliteBackend({ path });
  await backend.transaction([
    { type: 'put', key: 'core/keyring', value: aesGcmEncrypt(rootKey, ring.serialize(), utf8('keyhold-keyring-v1')) },
    ...rows.map(([p, v]) => ({ type: 'put' as const, key: `logical/${p}`, value: legacyRecord(ring, p, v) })),
  ]);
  const oldX = (await backend.get('logical/data/x'))!.slice();
  await backend.close();

  backend = new SqliteBackend({ path });
  t.after(() => backend.close());
  let barrier = new Barrier(backend);
  await barrier.unseal(rootKey);
  assert.equal(new TextDecoder().decode(await barrier.get('data/x')), 'x-value');
  assert.equal((await backend.get('logical/data/x'))![0], 2, 'records are rewritten in the new format');
  assert.equal(barrier.policyState(), undefined, 'the policy state is the engine to migrate');
  const engine = new PolicyEngine(barrier, trusted(KEY));
  assert.equal((await engine.active()).version, 4);
  assert.deepEqual(barrier.policyState(), { highest: 5, active: { version: 4, sha256: bundleSha256(bundle.bytes) } });
  assert.equal(await barrier.get('policy/version'), undefined, 'the floor row is gone: the keyring holds the floor');
  const replay = await signed(KEY, { version: 5, policies: '' });
  await assert.rejects(engine.push(replay.bytes, replay.signature), { code: 'KH_POLICY_ROLLBACK' });

  // After the upgrade a pre-upgrade copy of a row is a rollback, at unseal.
  barrier.seal();
  await backend.put('logical/data/x', oldX);
  barrier = new Barrier(backend);
  await assert.rejects(barrier.unseal(rootKey), { code: 'KH_STORAGE_ROLLBACK' });
});
