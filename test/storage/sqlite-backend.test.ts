import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runBackendSuite } from './backend-suite.js';

runBackendSuite('sqlite', async (t) => new SqliteBackend({ path: join(tempDir(t), 'kv.db') }));

test('sqlite: the database runs in WAL mode with full fsync, so commits are durable', async (t) => {
  const path = join(tempDir(t), 'kv.db');
  const b = new SqliteBackend({ path });
  await b.put('k', new Uint8Array([1]));
  const db = new Database(path, { readonly: true });
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  await b.close();
});

test('sqlite: data survives close and reopen', async (t) => {
  const path = join(tempDir(t), 'kv.db');
  const a = new SqliteBackend({ path });
  await a.put('persist', new Uint8Array([7, 8, 9]));
  await a.close();
  const b = new SqliteBackend({ path });
  assert.deepEqual(await b.get('persist'), new Uint8Array([7, 8, 9]));
  await b.close();
});
