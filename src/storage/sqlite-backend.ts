/**
 * Embedded storage on SQLite (better-sqlite3).
 *
 * WAL journal with `synchronous = FULL`: a commit is on disk (WAL fsynced)
 * before `put`/`transaction` resolve, so an acknowledged write survives
 * kill -9 and power loss (https://www.sqlite.org/wal.html, "Durability").
 * SQLite result codes are mapped to Keyhold codes so that a full disk or a
 * damaged file becomes a clear error, never a crash.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeyholdError } from '../errors.js';
import { prefixUpperBound, type PhysicalBackend, type StorageOp } from './backend.js';
import { ensurePrivateFile, tightenIfPresent, type FileModeWarning } from './private-file.js';

export interface SqliteOptions {
  /** Database file path; ":memory:" for tests. */
  path: string;
  /** Optional size cap in bytes (SQLite max_page_count); writes beyond it fail with KH_STORAGE_FULL. */
  maxSizeBytes?: number;
  /** Run PRAGMA quick_check at open (default true) so a damaged file is refused at start, not mid-request. */
  integrityCheckOnOpen?: boolean;
  /** Told when an existing database, -wal or -shm file was readable by others and was tightened to 0600 (default: a process warning). */
  onWarning?: FileModeWarning;
}

/** Maps a SQLite error to the Keyhold code a caller should see. */
export function mapSqliteError(e: unknown): KeyholdError {
  if (e instanceof KeyholdError) return e;
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  if (code.startsWith('SQLITE_FULL')) return new KeyholdError('KH_STORAGE_FULL', undefined, { cause: e });
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'))
    return new KeyholdError('KH_STORAGE_CORRUPT', undefined, { cause: e });
  return new KeyholdError('KH_STORAGE_UNAVAILABLE', undefined, { cause: e });
}

export class SqliteBackend implements PhysicalBackend {
  readonly name = 'sqlite';
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string], { value: Buffer }>;
  readonly #put: Database.Statement<[string, Uint8Array]>;
  readonly #del: Database.Statement<[string]>;
  readonly #list: Database.Statement<[string, string], { key: string }>;
  readonly #tx: (ops: readonly StorageOp[]) => void;
  #closed = false;

  constructor(options: SqliteOptions) {
    let db: Database.Database | undefined;
    try {
      if (options.path !== ':memory:') {
        mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
        // 0600 before SQLite creates it with 0644 (its default, less the umask); -wal and -shm then inherit its mode (private-file.ts).
        ensurePrivateFile(options.path, options.onWarning);
        tightenIfPresent(`${options.path}-wal`, options.onWarning);
        tightenIfPresent(`${options.path}-shm`, options.onWarning);
      }
      this.#db = db = new Database(options.path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('busy_timeout = 5000');
      if (options.integrityCheckOnOpen !== false) {
        const rows = this.#db.pragma('quick_check') as { quick_check: string }[];
        if (rows[0]?.quick_check !== 'ok') throw new KeyholdError('KH_STORAGE_CORRUPT');
      }
      this.#db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
      if (options.maxSizeBytes !== undefined) {
        const pageSize = this.#db.pragma('page_size', { simple: true }) as number;
        this.#db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxSizeBytes / pageSize))}`);
      }
      this.#get = this.#db.prepare('SELECT value FROM kv WHERE key = ?');
      this.#put = this.#db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
      this.#del = this.#db.prepare('DELETE FROM kv WHERE key = ?');
      this.#list = this.#db.prepare('SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key');
      this.#tx = this.#db.transaction((ops: readonly StorageOp[]) => {
        for (const op of ops) {
          if (op.type === 'put') this.#put.run(op.key, op.value);
          else this.#del.run(op.key);
        }
      });
    } catch (e) {
      // A refused file must not keep its descriptors open (callers may retry).
      db?.close();
      throw mapSqliteError(e);
    }
  }

  #run<T>(fn: () => T): T {
    if (this.#closed) throw new KeyholdError('KH_STORAGE_UNAVAILABLE', 'the storage backend is closed');
    try {
      return fn();
    } catch (e) {
      throw mapSqliteError(e);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#run(() => {
      const row = this.#get.get(key);
      return row === undefined ? undefined : new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength);
    });
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.#run(() => this.#put.run(key, value));
  }

  async delete(key: string): Promise<void> {
    this.#run(() => this.#del.run(key));
  }

  async list(prefix: string): Promise<string[]> {
    return this.#run(() => this.#list.all(prefix, prefixUpperBound(prefix)).map((r) => r.key));
  }

  async transaction(ops: readonly StorageOp[]): Promise<void> {
    this.#run(() => this.#tx(ops));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
