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
 */
import { open, type FileHandle } from 'node:fs/promises';
import { KeyholdError } from '../errors.js';
import { GENESIS, sealLine, verifyLines, type AuditEntry, type AuditFields } from './audit-chain.js';

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
  readonly #now: () => Date;

  private constructor(path: string, now: () => Date) {
    this.path = path;
    this.#now = now;
  }

  /** @throws KeyholdError KH_AUDIT_UNAVAILABLE when the file cannot be opened or its tail is not a valid chain. */
  static async open(path: string, options: { now?: () => Date } = {}): Promise<FileAuditDevice> {
    const device = new FileAuditDevice(path, options.now ?? (() => new Date()));
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
        }
      }
      device.#handle = handle;
    } catch (e) {
      await handle?.close();
      throw new KeyholdError('KH_AUDIT_UNAVAILABLE', `the audit file ${path} cannot be used`, { cause: e });
    }
    return device;
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
      const entries: AuditEntry[] = [];
      const lines: string[] = [];
      let seq = this.#seq;
      let prev = this.#prev;
      const time = this.#now();
      for (const p of batch) {
        const { entry, line } = sealLine(p.fields, ++seq, prev, time);
        prev = entry.hash;
        entries.push(entry);
        lines.push(line);
      }
      try {
        await this.#handle!.appendFile(lines.join(''));
        await this.#handle!.datasync();
        this.#seq = seq;
        this.#prev = prev;
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

  async close(): Promise<void> {
    await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
  }
}
