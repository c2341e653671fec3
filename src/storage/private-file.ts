/**
 * Files that only the vault's user may read (issue 15 L7): the database and
 * the files SQLite keeps beside it. Created 0600 whatever the umask and
 * whatever the directory's mode (a vault may be pointed at an existing,
 * shared directory), and an existing file that others can reach is tightened
 * to 0600 with a warning, because the operator may not know it was loose.
 *
 * SQLite creates -wal and -shm with the mode of the database file (unix VFS,
 * findCreateFileMode and unixOpenSharedMemory), so a database created 0600
 * gets private companions; existing ones are tightened too.
 */
import { closeSync, fchmodSync, fstatSync, openSync } from 'node:fs';

export type FileModeWarning = (message: string) => void;

/** The default: a process warning on stderr (the storage layer has no logger of its own). */
export const warnOnStderr: FileModeWarning = (message) => process.emitWarning(message, { type: 'KeyholdWarning' });

/**
 * Creates `path` empty with mode 0600 when it does not exist; when it does,
 * tightens a mode that gives group or others any access to 0600 and warns.
 * Only the mode is touched: never the content. No-op on Windows (no modes).
 */
export function ensurePrivateFile(path: string, warn: FileModeWarning = warnOnStderr): void {
  if (process.platform === 'win32') return;
  // 'a' creates without truncating; the mode applies only to a file this call creates (umask permitting, hence the check below).
  const fd = openSync(path, 'a', 0o600);
  try {
    tighten(fd, path, warn);
  } finally {
    closeSync(fd);
  }
}

/** Tightens `path` to 0600 if it exists and is looser (warns); a missing file is left missing. */
export function tightenIfPresent(path: string, warn: FileModeWarning = warnOnStderr): void {
  if (process.platform === 'win32') return;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return;
  }
  try {
    tighten(fd, path, warn);
  } finally {
    closeSync(fd);
  }
}

function tighten(fd: number, path: string, warn: FileModeWarning): void {
  const mode = fstatSync(fd).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  fchmodSync(fd, 0o600);
  warn(`${path} was mode ${mode.toString(8)}, readable or writable by others than the vault's user; it is now 600`);
}
