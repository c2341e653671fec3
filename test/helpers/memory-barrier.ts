/** An unsealed barrier on an in-memory SQLite backend, for tests of the layers above storage. */
import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { Barrier } from '../../src/barrier/barrier.js';

/** A barrier on SQLite :memory: with a fresh keyring under `rootKey` (random unless given); the backend is closed after the test. */
export async function memoryBarrier(
  t: Pick<TestContext, 'after'>,
  rootKey: Uint8Array = new Uint8Array(randomBytes(32)),
): Promise<{ backend: SqliteBackend; barrier: Barrier; rootKey: Uint8Array }> {
  const backend = new SqliteBackend({ path: ':memory:' });
  const barrier = new Barrier(backend);
  await backend.transaction([barrier.createKeyring(rootKey)]);
  t.after(() => backend.close());
  return { backend, barrier, rootKey };
}
