/**
 * The HSM rollback anchor on SoftHSM2 (issue 15, H3): a consistent rollback
 * of the whole database file is caught by the generation kept in a data
 * object on the token; the object is private and modifiable only through a
 * logged-in session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Barrier } from '../../src/barrier/barrier.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { COUNTER_LABEL, HsmCounterAnchor } from '../../src/seal/pkcs11/hsm-counter-anchor.js';
import { openTestHsm } from '../seal/pkcs11/softhsm-client.js';
import { tempDir } from '../helpers/temp-dir.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function checkpoint(path: string): void {
  const db = new Database(path);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

test('a consistent rollback of the whole database file is caught by the HSM counter (SoftHSM2): KH_STORAGE_ROLLBACK; adopt through the token re-arms it', async (t) => {
  const hsm = await openTestHsm(t);
  if (hsm === null) return t.skip('SoftHSM2 is not installed');
  const anchor = new HsmCounterAnchor(() => Promise.resolve(hsm.client));
  const path = join(tempDir(t), 'hsm.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const open = async (create = false): Promise<{ backend: SqliteBackend; barrier: Barrier }> => {
    const backend = new SqliteBackend({ path });
    t.after(() => backend.close());
    const barrier = new Barrier(backend);
    barrier.setRollbackAnchors([anchor], { error: () => {}, warn: () => {} });
    if (create) await backend.transaction([barrier.createKeyring(rootKey)]);
    await barrier.unseal(rootKey);
    return { backend, barrier };
  };
  const stop = async (v: { backend: SqliteBackend; barrier: Barrier }): Promise<void> => {
    await v.barrier.flushAnchors();
    v.barrier.seal();
    await v.backend.close();
    checkpoint(path);
  };

  let v = await open(true);
  await v.barrier.put('users/alice', enc('password v1'));
  await stop(v);
  const old = join(tempDir(t), 'old.db');
  copyFileSync(path, old);
  v = await open();
  for (let i = 0; i < 20; i++) await v.barrier.put(`sessions/${i}`, enc('s'));
  await v.barrier.put('users/alice', enc('password v2'));
  const generation = v.barrier.generation;
  await stop(v);
  // The token holds the latest generation (batched: written after the last commit, flushed at seal).
  const blobs = await hsm.client.readDataObjects(COUNTER_LABEL);
  assert.equal(blobs.length, 1);
  const blob = blobs[0]!;
  assert.equal(new DataView(blob.buffer, blob.byteOffset).getUint32(9), generation);

  for (const s of ['-wal', '-shm']) rmSync(path + s, { force: true });
  copyFileSync(old, path);
  await assert.rejects(open(), { code: 'KH_STORAGE_ROLLBACK' });

  await hsm.client.writeDataObject(COUNTER_LABEL, enc('adopt'));
  v = await open();
  assert.equal(new TextDecoder().decode(await v.barrier.get('users/alice')), 'password v1');
  await stop(v);
});
