/**
 * Issue 15 L7: the database and its WAL and shared-memory files, and the
 * simulated enclave's root certificate and key, are private to the vault's
 * user (0600) even in an existing directory and under a permissive umask; a
 * looser existing file is tightened, with a warning that names the file and
 * nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { loadOrCreateRoot, ROOT_CERT_FILE, ROOT_KEY_FILE } from '../../src/attestation/simulated/simulated-root.js';
import { tempDir } from '../helpers/temp-dir.js';

const modeOf = (path: string): number => statSync(path).mode & 0o777;

test('L7: keyhold.db, -wal and -shm are created 0600 in an existing directory, whatever the umask', { skip: process.platform === 'win32' }, async (t) => {
  const before = process.umask();
  t.after(() => process.umask(before));
  // From the most permissive umask (000: files would be 0666) to the usual ones and a strict one.
  for (const umask of [0o000, 0o002, 0o022, 0o077]) {
    process.umask(umask);
    const dir = tempDir(t);
    chmodSync(dir, 0o755);
    const path = join(dir, 'keyhold.db');
    const backend = new SqliteBackend({ path });
    try {
      await backend.put('a', new Uint8Array([1]));
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.ok(existsSync(file), file);
        assert.equal(modeOf(file).toString(8), '600', `${file} under umask ${umask.toString(8).padStart(3, '0')}`);
      }
    } finally {
      await backend.close();
    }
  }
});

test('L7: a looser existing database (and WAL, shared memory) is tightened to 0600, with a warning naming the file', { skip: process.platform === 'win32' }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keyhold.db');
  const first = new SqliteBackend({ path });
  await first.put('a', new Uint8Array([1]));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) chmodSync(file, 0o644);
  const warnings: string[] = [];
  const second = new SqliteBackend({ path, onWarning: (message) => warnings.push(message) });
  t.after(() => second.close());
  t.after(() => first.close());
  for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(modeOf(file).toString(8), '600', file);
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.match(warnings[0]!, /keyhold\.db was mode 644.*now 600/);
  assert.deepEqual(await second.get('a'), new Uint8Array([1]));
});

test('L7: the simulated enclave root certificate and key are created 0600, and a looser certificate is tightened', { skip: process.platform === 'win32' }, async (t) => {
  const before = process.umask(0o022);
  t.after(() => process.umask(before));
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  await loadOrCreateRoot(dir);
  assert.equal(modeOf(join(dir, ROOT_CERT_FILE)).toString(8), '600');
  assert.equal(modeOf(join(dir, ROOT_KEY_FILE)).toString(8), '600');
  chmodSync(join(dir, ROOT_CERT_FILE), 0o644);
  chmodSync(join(dir, ROOT_KEY_FILE), 0o644);
  await loadOrCreateRoot(dir);
  assert.equal(modeOf(join(dir, ROOT_CERT_FILE)).toString(8), '600');
  assert.equal(modeOf(join(dir, ROOT_KEY_FILE)).toString(8), '600');
});
