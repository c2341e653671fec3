/**
 * The one-time storage upgrade must not double as a downgrade (issue 15,
 * review 10): once a store is upgraded, a pre-upgrade keyring is never
 * accepted again where anything can tell (an anchor that holds a blob,
 * records in the new format), the new keyring has its own AAD, and an
 * upgrade over pre-upgrade policy rows with one of them deleted fails closed
 * instead of applying the permissive built-in bundle.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Barrier } from '../../src/barrier/barrier.js';
import { Keyring } from '../../src/barrier/keyring.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { FileAnchor } from '../../src/storage/file-anchor.js';
import { aesGcmDecrypt } from '../../src/crypto/aes-gcm.js';
import { utf8 } from '../../src/crypto/bytes.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { tempDir } from '../helpers/temp-dir.js';
import { trusted } from '../policy/policy-fixtures.js';
import { LEGACY_KEY, legacyRows, writeLegacyStore } from './legacy-store-fixture.js';

const KEY = LEGACY_KEY;

/** A pre-upgrade store on disk, with a pushed bundle (both policy rows), closed. */
async function legacyStore(t: TestContext, rows: (all: [string, Uint8Array][]) => [string, Uint8Array][] = (a) => a) {
  const dir = tempDir(t);
  const path = join(dir, 'legacy.db');
  const rootKey = new Uint8Array(randomBytes(32));
  const ring = Keyring.generate();
  const { rows: all } = await legacyRows(4);
  const backend = await writeLegacyStore(path, rootKey, ring, rows(all));
  await backend.close();
  const copy = join(dir, 'pre-upgrade.db');
  copyFileSync(path, copy);
  const open = (anchor?: string) => {
    const b = new SqliteBackend({ path });
    t.after(() => b.close());
    const barrier = new Barrier(b);
    if (anchor !== undefined) barrier.setRollbackAnchors([new FileAnchor(anchor)], { error: () => {}, warn: () => {} });
    return { backend: b, barrier };
  };
  const putBack = () => {
    for (const s of ['-wal', '-shm']) rmSync(path + s, { force: true });
    copyFileSync(copy, path);
  };
  return { dir, path, rootKey, open, putBack };
}

test('with an anchor: the pre-upgrade database put back after the upgrade is KH_STORAGE_ROLLBACK, not a second upgrade', async (t) => {
  const s = await legacyStore(t);
  const anchor = join(s.dir, 'keyhold.anchor');
  const first = s.open(anchor);
  await first.barrier.unseal(s.rootKey);
  await new PolicyEngine(first.barrier, trusted(KEY)).active();
  await first.barrier.flushAnchors();
  first.barrier.seal();
  await first.backend.close();
  s.putBack();
  await assert.rejects(s.open(anchor).barrier.unseal(s.rootKey), { code: 'KH_STORAGE_ROLLBACK' });
});

test('without an anchor: a pre-upgrade keyring put back beside upgraded records is KH_STORAGE_ROLLBACK; the new keyring has its own AAD', async (t) => {
  const s = await legacyStore(t);
  const { backend, barrier } = s.open();
  const legacyKeyring = (await backend.get('core/keyring'))!.slice();
  await barrier.unseal(s.rootKey);
  const upgraded = (await backend.get('core/keyring'))!;
  assert.equal(aesGcmDecrypt(s.rootKey, upgraded, utf8('keyhold-keyring-v1')), undefined, 'an upgraded keyring does not authenticate as a pre-upgrade one');
  barrier.seal();
  await backend.put('core/keyring', legacyKeyring);
  await assert.rejects(new Barrier(backend).unseal(s.rootKey), { code: 'KH_STORAGE_ROLLBACK' });
});

for (const deleted of ['policy/bundle', 'policy/version']) {
  test(`without an anchor: upgrading a pre-upgrade store whose ${deleted} row was deleted fails closed (KH_STORAGE_ROLLBACK), never the built-in bundle`, async (t) => {
    const s = await legacyStore(t, (all) => all.filter(([p]) => p !== deleted));
    const { barrier } = s.open();
    await barrier.unseal(s.rootKey);
    const engine = new PolicyEngine(barrier, trusted(KEY), { error: () => {} });
    await assert.rejects(engine.active(), { code: 'KH_STORAGE_ROLLBACK' });
  });
}
