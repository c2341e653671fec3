import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runBackendSuite } from './backend-suite.js';

runBackendSuite('sqlite', async (t) => new SqliteBackend({ path: join(tempDir(t), 'kv.db') }));

test("sqlite: the backend's own connection runs in WAL mode with synchronous = FULL, and an acknowledged put is in the WAL before close", async (t) => {
  const path = join(tempDir(t), 'kv.db');
  // synchronous is a per-connection setting, and a second connection only shows SQLite's
  // compiled-in default (FULL in this build too): read it on the connection the backend opened.
  const opened = new Set<Database.Database>();
  const pragma = Database.prototype.pragma;
  Database.prototype.pragma = function (this: Database.Database, ...args: Parameters<typeof pragma>) {
    opened.add(this);
    return pragma.apply(this, args);
  } as typeof pragma;
  let b: SqliteBackend;
  try {
    b = new SqliteBackend({ path });
  } finally {
    Database.prototype.pragma = pragma;
  }
  t.after(() => b.close());
  assert.equal(opened.size, 1, 'the backend opens one connection');
  const own = [...opened][0]!;
  assert.equal(own.pragma('journal_mode', { simple: true }), 'wal');
  // 2 = FULL: in WAL mode the WAL is fsynced at every commit, so a commit survives power loss
  // (https://www.sqlite.org/pragma.html#pragma_synchronous); NORMAL (1) would not.
  assert.equal(own.pragma('synchronous', { simple: true }), 2);
  // Durable at acknowledgement: once put resolves, the commit is in the WAL file (not only in
  // memory), and another connection reads it while the backend is still open.
  await b.put('k', new Uint8Array([1]));
  assert.ok(statSync(`${path}-wal`).size > 0, 'the commit is in the -wal file');
  const other = new Database(path, { readonly: true });
  t.after(() => other.close());
  const row = other.prepare('SELECT value FROM kv WHERE key = ?').get('k') as { value: Buffer } | undefined;
  assert.deepEqual(row && [...row.value], [1]);
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
