/** Editing a Keyhold SQLite file behind the server's back, as an attacker with the host's disk (or a broken disk) would. */
import Database from 'better-sqlite3';

/** Runs `fn` on the closed database file at `path`, then checkpoints the WAL into the file so the next open sees the edit. */
export function editDb(path: string, fn: (db: Database.Database) => void): void {
  const db = new Database(path);
  try {
    fn(db);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
