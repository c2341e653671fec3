/**
 * Where the agent puts secret files: a directory it creates (mode 0700) on a
 * memory-backed filesystem, files written 0600 through a temporary name and
 * renamed (a reader never sees half a file), and wiped on exit (overwritten,
 * then removed). Persistent disk is refused unless explicitly allowed: a
 * secret on a provider's disk outlives the workload (docs/agent.md).
 */
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, rmdirSync, statfsSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError } from '../http-client.js';

/** statfs f_type of memory-backed filesystems (linux/magic.h): tmpfs, ramfs. */
const MEMORY_FS = new Set([0x01021994, 0x858458f6]);

export function isMemoryBacked(path: string): boolean {
  try {
    return MEMORY_FS.has(statfsSync(path).type);
  } catch {
    return false;
  }
}

/** Candidates for an automatic directory, in order: the user's runtime dir (tmpfs under systemd), then /dev/shm. */
function memoryParents(): string[] {
  const xdg = process.env.XDG_RUNTIME_DIR;
  return [...(xdg !== undefined && xdg !== '' ? [xdg] : []), '/dev/shm'];
}

export class OutputDir {
  readonly path: string;
  readonly #owned: boolean;
  /** Every name this agent created here (files and their temporary names): the wipe touches nothing else. */
  readonly #written = new Set<string>();

  private constructor(path: string, owned: boolean) {
    this.path = path;
    this.#owned = owned;
  }

  /**
   * `dir` given: created if absent (then removed on wipe), must be memory-backed
   * unless allowPersistentDisk. Absent: a fresh directory under the first
   * memory-backed candidate.
   */
  static create(dir: string | undefined, allowPersistentDisk: boolean): OutputDir {
    if (dir === undefined) {
      const parent = memoryParents().find((p) => isMemoryBacked(p));
      if (parent === undefined) throw new CliError('KH_AGENT_OUTPUT_UNSAFE', 'no memory-backed filesystem found ($XDG_RUNTIME_DIR, /dev/shm): set output.dir to a tmpfs path, or output.allowPersistentDisk: true', 2);
      return new OutputDir(mkdtempSync(join(parent, 'keyhold-agent-'), { encoding: 'utf8' }), true);
    }
    const path = resolve(dir);
    let owned = false;
    try {
      const st = lstatSync(path);
      // An existing folder must be this user's own and closed to others: no one else may plant names in it.
      if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0)
        throw new CliError('KH_AGENT_OUTPUT_UNSAFE', `output.dir ${path} must be a directory owned by this user with mode 0700 (no group or other access)`, 2);
    } catch (e) {
      if (e instanceof CliError) throw e;
      mkdirSync(path, { recursive: true, mode: 0o700 });
      owned = true;
    }
    if (!allowPersistentDisk && !isMemoryBacked(path)) {
      if (owned) rmSync(path, { recursive: true, force: true });
      throw new CliError('KH_AGENT_OUTPUT_UNSAFE', `output.dir ${path} is not on tmpfs/ramfs: secrets would reach persistent disk (set output.allowPersistentDisk: true to accept that)`, 2);
    }
    return new OutputDir(path, owned);
  }

  /** Writes one file (0600) atomically; the name is a plain file name inside the directory. */
  write(name: string, bytes: Uint8Array): string {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(name) || name === '.' || name === '..') throw new CliError('KH_AGENT_CONFIG_INVALID', `file name "${name}" must be a plain name (letters, digits, . _ -)`, 2);
    const target = join(this.path, name);
    const tempName = `.${name}.${randomBytes(6).toString('hex')}.tmp`;
    const temp = join(this.path, tempName);
    this.#written.add(tempName);
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    this.#written.delete(tempName);
    this.#written.add(name);
    return target;
  }

  /**
   * Overwrites every file the agent wrote with zeros and removes it, then the
   * folder if the agent created it. Only names it created are touched, never
   * through a symbolic link, and one failure does not stop the rest.
   */
  wipe(): void {
    for (const name of this.#written) {
      const file = join(this.path, name);
      try {
        const fd = openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW);
        try {
          writeSync(fd, Buffer.alloc(fstatSync(fd).size));
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } catch {
        /* gone already, or not a regular file of ours: removed below without following it */
      }
      try {
        rmSync(file, { force: true });
      } catch {
        /* keep going: the other files must still go */
      }
    }
    this.#written.clear();
    if (this.#owned) {
      try {
        rmdirSync(this.path);
      } catch {
        /* not empty: something else put a file there; leave it */
      }
    }
  }
}
