/**
 * The file rollback anchor: one small file that should live on another mount
 * than the database (another disk, an NFS share, a host-mounted volume the
 * vault's host cannot roll back), rewritten on every generation bump.
 *
 * Written as temp file + fsync + rename + fsync of the folder, so a crash
 * leaves the old or the new blob, never a torn one. An operator who restored
 * an older database deliberately writes the word `adopt` into the file: the
 * next unseal adopts the database's generation (see docs/storage-rollback.md).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { KeyholdError } from '../errors.js';
import type { RollbackAnchor } from './rollback-anchor.js';

const ADOPT = 'adopt';
/** Anchor blobs are tens of bytes; anything larger is not ours. */
const MAX_BYTES = 4096;

export class FileAnchor implements RollbackAnchor {
  readonly name = 'file';
  readonly bit = 1;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async read(): Promise<Uint8Array | 'adopt' | undefined> {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.#path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KeyholdError('KH_STORAGE_ANCHOR_UNAVAILABLE', 'the file rollback anchor cannot be read', { cause: e });
    }
    if (bytes.length > MAX_BYTES) throw new KeyholdError('KH_STORAGE_ANCHOR_UNAVAILABLE', 'the file rollback anchor is not an anchor file');
    if (bytes.toString('latin1').trim() === ADOPT) return ADOPT;
    return new Uint8Array(bytes);
  }

  async write(value: Uint8Array): Promise<void> {
    const tmp = join(dirname(this.#path), `.${basename(this.#path)}.tmp`);
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, value);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.#path);
      // The rename is durable only once the folder is synced.
      const dir = openSync(dirname(this.#path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (e) {
      throw new KeyholdError('KH_STORAGE_ANCHOR_UNAVAILABLE', 'the file rollback anchor cannot be written', { cause: e });
    }
  }
}
