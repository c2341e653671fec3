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
import { bundleSha256 } from '../../src/policy/bundle.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { tempDir } from '../helpers/temp-dir.js';
import { signed, trusted } from '../policy/policy-fixtures.js';
import { LEGACY_KEY, legacyRows, writeLegacyStore } from './legacy-store-fixture.js';

const KEY = LEGACY_KEY;

test('a store from before the storage generation is upgraded once at unseal; its policy floor and bundle move into the keyring; old rows put back are rollbacks', async (t) => {
  const path = join(tempDir(t), 'legacy.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const ring = Keyring.generate();
  const { bundle, rows } = await legacyRows(5);
  let backend = await writeLegacyStore(path, rootKey, ring, rows);
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
