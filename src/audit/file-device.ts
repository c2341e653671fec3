/**
 * The file audit device: JSON lines appended to one file, group-committed.
 * append() queues an entry and resolves once the batch that holds it is
 * written and fdatasync'ed; many concurrent requests share one fsync, which
 * is what keeps auditing cheap (issue "audit": batched fsync). If the write
 * or sync fails, every waiter in that batch is rejected, the device stays
 * failed until reopened, and callers fail closed.
 *
 * At open the chain is resumed from the file's last complete line; a torn
 * last line (a crash mid-write, no trailing newline) is cut off, anything
 * else that does not verify as the tail of a chain refuses the open.
 *
 * Checkpoints (checkpoint.ts): given a signer, once `every` entries follow the
 * last checkpoint a signed checkpoint entry is added to the same batch, so it
 * shares that batch's write and fdatasync (signing once per N entries costs
 * far less than a sync). While sealed the signer has no key and the
 * checkpoint waits for the first batch written while unsealed, then covers
 * everything before it. Only the last line is read at open: when it is not a
 * checkpoint the previous one is unknown and taken as seq 0: the next
 * checkpoint then comes as soon as a key is available, so the entries written
 * before the restart are covered early rather than late, and its count runs
 * from the start of the chain.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { KeyholdError } from '../errors.js';
import { GENESIS, sealLine, verifyLines, type AuditEntry, type AuditFields } from './audit-chain.js';
import { checkpointFields, isCheckpoint, type CheckpointKey, type CheckpointSigner } from './checkpoint.js';

export interface CheckpointOptions {
  /** Entries between checkpoints (config audit.checkpointEvery). */
  every: number;
  signer: CheckpointSigner;
}

interface Pending {
  fields: AuditFields;
  resolve: (e: AuditEntry) => void;
  reject: (e: unknown) => void;
}

/** Reads the tail of a file to find its last complete line. */
async function readTail(handle: FileHandle, size: number): Promise<{ lastLine: string | undefined; validEnd: number }> {
  const chunk = Math.min(size, 1 << 20);
  const buf = Buffer.alloc(chunk);
  await handle.read(buf, 0, chunk, size - chunk);
  const text = buf.toString('utf8');
  const end = text.lastIndexOf('\n');
  if (end < 0) return { lastLine: undefined, validEnd: size - chunk };
  const start = text.lastIndexOf('\n', end - 1);
  return { lastLine: text.slice(start + 1, end), validEnd: size - chunk + Buffer.byteLength(text.slice(0, end + 1)) };
}

export class FileAuditDevice {
  readonly path: string;
  #handle: FileHandle | undefined;
  #seq = 0;
  #prev = GENESIS;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #failed: unknown;
  /** Seq of the last checkpoint entry; 0 when none is known. */
  #checkpointSeq = 0;
  readonly #now: () => Date;
  readonly #checkpoints: CheckpointOptions | undefined;

  private constructor(path: string, now: () => Date, checkpoints: CheckpointOptions | undefined) {
    this.path = path;
    this.#now = now;
    this.#checkpoints = checkpoints;
  }

  /**
   * Opens (or creates) the file; without `checkpoints` no checkpoint is written.
   * @throws KeyholdError KH_AUDIT_UNAVAILABLE when the file cannot be opened or its tail is not a valid chain.
   * @throws TypeError when checkpoints.every is not a positive integer.
   */
  static async open(path: string, options: { now?: () => Date; checkpoints?: CheckpointOptions } = {}): Promise<FileAuditDevice> {
    const every = options.checkpoints?.every;
    if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) throw new TypeError('checkpoints.every must be a positive integer');
    const device = new FileAuditDevice(path, options.now ?? (() => new Date()), options.checkpoints);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'a+', 0o600);
      const { size } = await handle.stat();
      if (size > 0) {
        const { lastLine, validEnd } = await readTail(handle, size);
        if (validEnd < size) await handle.truncate(validEnd);
        if (lastLine !== undefined) {
          const check = verifyLines([lastLine]);
          if (!check.ok) throw new Error(`the last audit entry does not verify: ${check.reason}`);
          const last = JSON.parse(lastLine) as AuditEntry;
          device.#seq = last.seq;
          device.#prev = last.hash;
          if (isCheckpoint(last)) device.#checkpointSeq = last.seq;
        }
      }
      device.#handle = handle;
    } catch (e) {
      await handle?.close();
      throw new KeyholdError('KH_AUDIT_UNAVAILABLE', `the audit file ${path} cannot be used`, { cause: e });
    }
    return device;
  }

  /** Who signs this device's checkpoints, if anyone. */
  get checkpointSigner(): CheckpointSigner | undefined {
    return this.#checkpoints?.signer;
  }

  get head(): { seq: number; hash: string } {
    return { seq: this.#seq, hash: this.#prev };
  }

  /** Appends one entry; resolves when it is durable. @throws KeyholdError KH_AUDIT_UNAVAILABLE */
  append(fields: AuditFields): Promise<AuditEntry> {
    if (this.#handle === undefined || this.#failed !== undefined) return Promise.reject(new KeyholdError('KH_AUDIT_UNAVAILABLE', undefined, { cause: this.#failed }));
    return new Promise((resolve, reject) => {
      this.#queue.push({ fields, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    // Let the current tick's appends join the batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const key = this.#checkpointMayFall(batch.length) ? await this.#checkpointKey() : undefined;
      const entries: AuditEntry[] = [];
      const lines: string[] = [];
      let seq = this.#seq;
      let prev = this.#prev;
      let checkpointSeq = this.#checkpointSeq;
      const time = this.#now();
      // A checkpoint may be due before the batch (postponed while sealed) or after any entry in it.
      const checkpointIfDue = () => {
        if (key === undefined || seq - checkpointSeq < this.#checkpoints!.every) return;
        const fields = checkpointFields(key, { seq, hash: prev }, seq - checkpointSeq);
        if (fields === undefined) return;
        const { entry, line } = sealLine(fields, ++seq, prev, time);
        prev = entry.hash;
        checkpointSeq = entry.seq;
        lines.push(line);
      };
      checkpointIfDue();
      for (const p of batch) {
        const { entry, line } = sealLine(p.fields, ++seq, prev, time);
        prev = entry.hash;
        entries.push(entry);
        lines.push(line);
        checkpointIfDue();
      }
      try {
        await this.#handle!.appendFile(lines.join(''));
        await this.#handle!.datasync();
        this.#seq = seq;
        this.#prev = prev;
        this.#checkpointSeq = checkpointSeq;
        batch.forEach((p, i) => p.resolve(entries[i]!));
      } catch (e) {
        this.#failed = e;
        const err = new KeyholdError('KH_AUDIT_UNAVAILABLE', undefined, { cause: e });
        for (const p of [...batch, ...this.#queue]) p.reject(err);
        this.#queue = [];
      }
    }
    this.#flushing = undefined;
  }

  /** Whether a checkpoint falls in the next batch: the key is asked for only then (once per N entries, or while one is overdue). */
  #checkpointMayFall(batchSize: number): boolean {
    return this.#checkpoints !== undefined && this.#seq + batchSize - this.#checkpointSeq >= this.#checkpoints.every;
  }

  /** The key, or undefined to postpone: a signer fault must never fail the entries the checkpoint would follow. */
  async #checkpointKey(): Promise<CheckpointKey | undefined> {
    try {
      return await this.#checkpoints?.signer.current();
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
  }
}
