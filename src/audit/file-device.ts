/**
 * The file audit device: JSON lines appended to one file, group-committed.
 * append() queues an entry and resolves once the batch that holds it is
 * written and fdatasync'ed; many concurrent requests share one fsync, which
 * is what keeps auditing cheap (issue "audit": batched fsync). If the write
 * or sync fails, every waiter in that batch is rejected, the device stays
 * failed until reopened, and callers fail closed.
 *
 * Checkpoints (checkpoint.ts): the first entry of every file is a signed
 * genesis checkpoint, and a checkpoint follows at most `every` entries later
 * (in the same batch, so it shares that batch's write and fdatasync: one
 * signature per N entries, never one per entry). The device never writes an
 * entry past the cadence without a checkpoint: while sealed (no key) such an
 * entry is refused, fail closed. Only in-flight answers are audited while
 * sealed, so in practice this never bites.
 *
 * Opening never fails because of the file's content (issue 15, H1/H2):
 * - at open (sealed) the tail back to the last checkpoint is read and its
 *   chain checked; a torn last line (a crash mid-write, no newline) is cut off;
 *   any other damage is reported at once (the damage listener: error log line
 *   and metric) and nothing is appended to that file;
 * - before the first entry is written (unsealed, the keys are available) the
 *   tail is read again and checked with the keys: the last checkpoint's
 *   signature and every later entry's chain MAC. A file that does not verify
 *   is never extended: it is renamed to "<file>.damaged-<time>" (never
 *   deleted) and a new file starts with a genesis that names it, its last
 *   checkpoint and the reason (KH_AUDIT_LOG_UNVERIFIABLE), so the damage is on
 *   record in the log itself.
 * - with a head store (audit-head.ts), the same first write also compares the
 *   file with the last checkpoint the node recorded behind the barrier: a
 *   missing or empty file, a file whose last checkpoint is behind the recorded
 *   one, a file whose entry at the recorded seq has another hash, or another
 *   log altogether (another genesis) is damage too, handled as above, and the
 *   new genesis also names the head the node expected. A file ahead of the
 *   record must verify with the keys from the recorded checkpoint to its end
 *   (that checkpoint's hash commits to everything before it). The head is recorded
 *   after each checkpoint's fdatasync, never before, so after a crash the file
 *   may be ahead of the record (accepted) but never behind it.
 * The chain key is kept by the device from then on, until close, so the
 * answers of requests in flight when the vault seals are still chained and
 * MAC'd (a checkpoint still needs the signing key, which sealing wipes).
 */
import { open, rename, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { KeyholdError } from '../errors.js';
import { wipe } from '../crypto/bytes.js';
import { GENESIS, sealLine, verifyLines, type AuditEntry, type AuditFields } from './audit-chain.js';
import { checkpointFields, isCheckpoint, type CheckpointKey, type CheckpointSigner, type PreviousSegment } from './checkpoint.js';
import type { AuditHead, AuditHeadStore } from './audit-head.js';

export interface CheckpointOptions {
  /** Entries between checkpoints (config audit.checkpointEvery). */
  every: number;
  signer: CheckpointSigner;
}

/** What the node found wrong with its log file (logged at error, counted in a metric, recorded in the next genesis). */
export interface AuditDamage {
  code: 'KH_AUDIT_LOG_UNVERIFIABLE';
  file: string;
  /** Where the file was moved; undefined until the node is unsealed and sets it aside. */
  setAsideAs: string | undefined;
  lastCheckpoint: PreviousSegment['lastCheckpoint'];
  reason: string;
}

interface Pending {
  fields: AuditFields;
  resolve: (e: AuditEntry) => void;
  reject: (e: unknown) => void;
}

/** The longest tail the node reads back looking for the last checkpoint (checkpointEvery is at most 1,000,000). */
const MAX_TAIL_LINES = 1_000_002;
const MAX_TAIL_BYTES = 512 << 20;
const CHUNK = 1 << 20;

interface Tail {
  /** Complete lines from the last checkpoint (or the start of the file) to the end. */
  lines: string[];
  /** Whether `lines` starts at the first line of the file. */
  fromStart: boolean;
  /** Byte length up to the end of the last complete line. */
  validEnd: number;
}

const looksLikeEntry = (line: string): boolean => {
  try {
    const e = JSON.parse(line) as unknown;
    return typeof e === 'object' && e !== null && typeof (e as { hash?: unknown }).hash === 'string';
  } catch {
    return false;
  }
};

const looksLikeCheckpoint = (line: string): boolean => {
  if (!line.includes('"type":"checkpoint"')) return false;
  try {
    const e = JSON.parse(line) as Record<string, unknown>;
    return typeof e === 'object' && e !== null && isCheckpoint(e);
  } catch {
    return false;
  }
};

/** Byte offset just past the last newline of the file (0 when it has none). */
async function lastNewlineEnd(handle: FileHandle, size: number): Promise<number> {
  let pos = size;
  while (pos > 0) {
    const length = Math.min(CHUNK, pos);
    pos -= length;
    const chunk = Buffer.alloc(length);
    await handle.read(chunk, 0, length, pos);
    const i = chunk.lastIndexOf(0x0a);
    if (i >= 0) return pos + i + 1;
  }
  return 0;
}

/** The first line of the file (without its newline), or undefined when it has no complete line within the bound. */
async function readFirstLine(handle: FileHandle, validEnd: number): Promise<string | undefined> {
  const parts: Buffer[] = [];
  for (let pos = 0; pos < validEnd && pos < MAX_TAIL_BYTES; pos += CHUNK) {
    const chunk = Buffer.alloc(Math.min(CHUNK, validEnd - pos));
    await handle.read(chunk, 0, chunk.length, pos);
    const i = chunk.indexOf(0x0a);
    if (i >= 0) return Buffer.concat([...parts, chunk.subarray(0, i)]).toString('utf8');
    parts.push(chunk);
  }
  return undefined;
}

/**
 * The complete lines of [0, validEnd) from the last to the first, read
 * backwards in chunks, each with whether it is the file's first line. Stops
 * after MAX_TAIL_BYTES without reaching the first line.
 */
async function* linesBackwards(handle: FileHandle, validEnd: number): AsyncGenerator<{ line: string; first: boolean }> {
  // The bytes [pos, validEnd - 1) are still to be split; `rest` holds the not yet complete line at their start.
  let pos = validEnd - 1;
  let rest = Buffer.alloc(0);
  let read = 0;
  while (pos > 0 && read < MAX_TAIL_BYTES) {
    const length = Math.min(CHUNK, pos);
    pos -= length;
    read += length;
    const chunk = Buffer.alloc(length);
    await handle.read(chunk, 0, length, pos);
    const buf = Buffer.concat([chunk, rest]);
    let end = buf.length;
    // (lastIndexOf with a negative offset would count from the end, hence the guard.)
    let i = end > 0 ? buf.lastIndexOf(0x0a, end - 1) : -1;
    while (i >= 0) {
      yield { line: buf.toString('utf8', i + 1, end), first: false };
      end = i;
      i = end > 0 ? buf.lastIndexOf(0x0a, end - 1) : -1;
    }
    rest = Buffer.from(buf.subarray(0, end));
  }
  if (pos <= 0 && validEnd > 0) yield { line: rest.toString('utf8'), first: true };
}

/**
 * The complete lines from the entry at `seq` to `validEnd` (`seq` undefined:
 * from the start of the file), read backwards; undefined when an earlier seq,
 * the start of the file or the bound comes first.
 */
async function linesFrom(handle: FileHandle, validEnd: number, seq: number | undefined): Promise<string[] | undefined> {
  const lines: string[] = [];
  const seqOf = (line: string): number | undefined => {
    try {
      const e = JSON.parse(line) as { seq?: unknown };
      return typeof e === 'object' && e !== null && typeof e.seq === 'number' ? e.seq : undefined;
    } catch {
      return undefined;
    }
  };
  const done = () => lines.filter((l) => l !== '').reverse();
  for await (const { line, first } of linesBackwards(handle, validEnd)) {
    lines.push(line);
    const n = seq === undefined ? undefined : seqOf(line);
    if (n !== undefined && n === seq) return done();
    if (n !== undefined && n < seq!) return undefined;
    if (first) return seq === undefined ? done() : undefined;
  }
  // The bound came first, or the file is empty (then only a whole-file read, `seq` undefined, succeeds).
  return validEnd <= 0 && seq === undefined ? done() : undefined;
}

/** Reads complete lines backwards from `validEnd` until a checkpoint line, the start of the file, or a bound. */
async function readTail(handle: FileHandle, validEnd: number): Promise<Tail> {
  const lines: string[] = [];
  const done = (fromStart: boolean): Tail => ({ lines: lines.reverse(), fromStart, validEnd });
  for await (const { line, first } of linesBackwards(handle, validEnd)) {
    lines.push(line);
    if (first) return done(true);
    if (looksLikeCheckpoint(line) || lines.length >= MAX_TAIL_LINES) return done(false);
  }
  return done(validEnd <= 0);
}

type State = 'fresh' | 'unverified' | 'damaged' | 'ready';

export class FileAuditDevice {
  readonly path: string;
  #handle: FileHandle | undefined;
  #seq = 0;
  #prev = GENESIS;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #failed: unknown;
  #closed = false;
  /** Seq and hash of the last checkpoint entry, and the cadence it promised. */
  #checkpointSeq = 0;
  #checkpointHash = GENESIS;
  #due: number;
  #state: State = 'fresh';
  /** Kept from the first unsealed write to close (see the module comment); wiped on close. */
  #chainKey: Uint8Array | undefined;
  #damage: AuditDamage | undefined;
  #previous: PreviousSegment | null = null;
  readonly #damageListeners: ((damage: AuditDamage) => void)[] = [];
  readonly #now: () => Date;
  readonly #checkpoints: CheckpointOptions;
  readonly #headStore: AuditHeadStore | undefined;
  /** Hash of this file's genesis entry (known once verified with the keys, or once this device wrote it). */
  #segment: string | undefined;
  /** Byte length of the file's complete lines, as of the last inspection. */
  #validEnd = 0;

  private constructor(path: string, now: () => Date, checkpoints: CheckpointOptions, headStore: AuditHeadStore | undefined) {
    this.path = path;
    this.#now = now;
    this.#checkpoints = checkpoints;
    this.#due = checkpoints.every;
    this.#headStore = headStore;
  }

  /**
   * Opens (or creates) the file and checks its tail's chain; never fails
   * because of what the file holds (see `damage`). `head`: where the last
   * durable checkpoint is recorded and checked (audit-head.ts); without it a
   * deleted or cut file cannot be told from a first start.
   * @throws KeyholdError KH_AUDIT_UNAVAILABLE when the file cannot be opened or read.
   * @throws TypeError when checkpoints.every is not a positive integer.
   */
  static async open(path: string, options: { now?: () => Date; checkpoints: CheckpointOptions; head?: AuditHeadStore }): Promise<FileAuditDevice> {
    const every = options.checkpoints.every;
    if (!Number.isSafeInteger(every) || every < 1) throw new TypeError('checkpoints.every must be a positive integer');
    const device = new FileAuditDevice(path, options.now ?? (() => new Date()), options.checkpoints, options.head);
    try {
      device.#handle = await open(path, 'a+', 0o600);
      const damage = await device.#inspect(undefined);
      if (damage !== undefined) device.#report(damage);
    } catch (e) {
      await device.#handle?.close();
      throw new KeyholdError('KH_AUDIT_UNAVAILABLE', `the audit file ${path} cannot be used`, { cause: e });
    }
    return device;
  }

  /** Who signs this device's checkpoints. */
  get checkpointSigner(): CheckpointSigner {
    return this.#checkpoints.signer;
  }

  get head(): { seq: number; hash: string } {
    return { seq: this.#seq, hash: this.#prev };
  }

  /** The damage found in this run, if any (the file is set aside at the first unsealed write). */
  get damage(): AuditDamage | undefined {
    return this.#damage;
  }

  /** Calls `listener` for damage found from now on, and at once for damage already found. */
  onDamage(listener: (damage: AuditDamage) => void): void {
    this.#damageListeners.push(listener);
    if (this.#damage !== undefined) listener(this.#damage);
  }

  #report(damage: AuditDamage): void {
    this.#damage = damage;
    for (const l of this.#damageListeners) {
      try {
        l(damage);
      } catch {
        // A listener (logging, metrics) never stops the audit.
      }
    }
  }

  /**
   * Reads the tail and checks it: the chain alone without a key, and with the
   * key also the last checkpoint's signature and every later entry's MAC.
   * Sets the device's head on success; returns the damage otherwise.
   */
  async #inspect(key: CheckpointKey | undefined, chainKey?: Uint8Array): Promise<AuditDamage | undefined> {
    const handle = this.#handle!;
    const { size } = await handle.stat();
    this.#validEnd = 0;
    if (size === 0) {
      this.#state = 'fresh';
      return undefined;
    }
    let validEnd = await lastNewlineEnd(handle, size);
    if (validEnd < size) {
      // A torn last line is what a crash mid-write leaves, never acknowledged: cut it. A complete
      // entry that only lacks its newline is kept (it may have been written whole), so removing a
      // newline cannot make the node drop an entry.
      const fragment = Buffer.alloc(size - validEnd);
      await handle.read(fragment, 0, fragment.length, validEnd);
      if (looksLikeEntry(fragment.toString('utf8'))) {
        await handle.appendFile('\n');
        validEnd = size + 1;
      } else {
        await handle.truncate(validEnd);
      }
    }
    this.#validEnd = validEnd;
    const tail = await readTail(handle, validEnd);
    // Blank lines carry nothing and are skipped by verification too.
    const lines = tail.lines.filter((l) => l !== '');
    if (tail.fromStart && lines.length === 0) {
      this.#state = 'fresh';
      return undefined;
    }
    const result = verifyLines(lines, {
      tail: !tail.fromStart,
      ...(key !== undefined && { publicKey: key.verifier }),
      ...(chainKey !== undefined && { chainKey }),
    });
    const problems = [...result.damaged];
    if (result.lastCheckpoint === null && !problems.some((d) => /checkpoint/.test(d.reason)))
      problems.push({ line: 0, reason: 'no checkpoint in the log (written before signed genesis checkpoints, or every checkpoint was removed)' });
    if (problems.length > 0) {
      this.#state = 'damaged';
      const first = problems[0]!;
      return {
        code: 'KH_AUDIT_LOG_UNVERIFIABLE',
        file: this.path,
        setAsideAs: undefined,
        lastCheckpoint: result.lastCheckpoint,
        // Line numbers are counted from the last checkpoint; the reason is ours, never the line's content.
        reason: `${first.reason}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
      };
    }
    const last = JSON.parse(lines.at(-1)!) as AuditEntry;
    const checkpoint = JSON.parse(lines[0]!) as AuditEntry;
    this.#seq = last.seq;
    this.#prev = last.hash;
    this.#checkpointSeq = checkpoint.seq;
    this.#checkpointHash = checkpoint.hash;
    // Honour the cadence the last checkpoint signed, even if the configuration now says more.
    this.#due = Math.min(this.#checkpoints.every, Number(checkpoint.every));
    this.#state = key === undefined ? 'unverified' : 'ready';
    return undefined;
  }

  /**
   * Why a file that verified is still not the log the node last recorded
   * (`recorded`), or undefined when it is, or is ahead of it. Also learns the
   * file's segment. Only reasons of our own, never a line's content.
   */
  async #departsFrom(recorded: AuditHead | undefined, key: CheckpointKey, chainKey: Uint8Array): Promise<string | undefined> {
    if (this.#state === 'fresh') {
      this.#segment = undefined;
      return recorded === undefined ? undefined : `the audit log is missing or empty, but the node recorded a checkpoint at seq ${recorded.seq} (deleted or replaced)`;
    }
    const first = await readFirstLine(this.#handle!, this.#validEnd);
    let genesis: AuditEntry | undefined;
    try {
      const e = first === undefined ? undefined : (JSON.parse(first) as AuditEntry);
      if (typeof e === 'object' && e !== null && e.seq === 1 && e.prev === GENESIS && typeof e.hash === 'string' && isCheckpoint(e)) genesis = e;
    } catch {
      genesis = undefined;
    }
    if (recorded === undefined) {
      this.#segment = genesis?.hash;
      return undefined;
    }
    const verified = (lines: string[] | undefined, tail: boolean) =>
      lines !== undefined && verifyLines(lines, { tail, publicKey: key.verifier, chainKey }).ok;
    // The recorded checkpoint, and the chain from it to the end, verified with the keys: its hash commits
    // to everything before it, so nothing else in the file (its first line included) needs to be trusted.
    if (this.#checkpointSeq >= recorded.seq) {
      const fromHead = this.#checkpointSeq === recorded.seq ? [] : await linesFrom(this.#handle!, this.#validEnd, recorded.seq);
      const headHash = this.#checkpointSeq === recorded.seq ? this.#checkpointHash : fromHead?.[0] === undefined ? undefined : String((JSON.parse(fromHead[0]) as AuditEntry).hash);
      if (headHash === recorded.hash && (fromHead?.length === 0 || verified(fromHead, true))) {
        this.#segment = recorded.segment;
        return undefined;
      }
    }
    // A log the node started after setting the recorded one aside, and crashed before recording its first checkpoint:
    // its genesis names the head it expected, and the whole file verifies from that genesis with the keys.
    const named = (genesis?.genesis as { previous?: { expectedHead?: Partial<AuditHead> } } | undefined)?.previous?.expectedHead;
    if (genesis !== undefined && named?.segment === recorded.segment && named.seq === recorded.seq && named.hash === recorded.hash) {
      if (verified(await linesFrom(this.#handle!, this.#validEnd, undefined), false)) {
        this.#segment = genesis.hash;
        return undefined;
      }
    }
    const expected = `the checkpoint at seq ${recorded.seq} the node recorded`;
    if (genesis?.hash !== recorded.segment) return `the audit log is not the log in which the node recorded a checkpoint at seq ${recorded.seq} (its genesis differs: replaced)`;
    if (this.#checkpointSeq < recorded.seq) return `the audit log's last checkpoint is at seq ${this.#checkpointSeq}, behind ${expected} (cut)`;
    return `the audit log's entry at seq ${recorded.seq} is not ${expected} (rewritten from there)`;
  }

  /** First write while unsealed: verify with the keys and against the recorded head, or set the file aside and start a new segment. */
  async #verifyOrSetAside(key: CheckpointKey, recorded: AuditHead | undefined): Promise<void> {
    const chainKey = key.chainKey();
    if (chainKey === undefined) throw new KeyholdError('KH_SEALED');
    let damage = await this.#inspect(key, chainKey);
    if (damage === undefined) {
      const reason = await this.#departsFrom(recorded, key, chainKey);
      if (reason !== undefined) {
        this.#state = 'damaged';
        const lastCheckpoint = this.#checkpointSeq === 0 ? null : { seq: this.#checkpointSeq, hash: this.#checkpointHash, verified: true };
        damage = { code: 'KH_AUDIT_LOG_UNVERIFIABLE', file: this.path, setAsideAs: undefined, lastCheckpoint, reason };
      }
    }
    if (damage !== undefined) {
      const aside = `${this.path}.damaged-${this.#now().toISOString().replace(/[:.]/g, '-')}`;
      await this.#handle!.close();
      this.#handle = undefined;
      await rename(this.path, aside);
      this.#handle = await open(this.path, 'a+', 0o600);
      this.#seq = 0;
      this.#prev = GENESIS;
      this.#checkpointSeq = 0;
      this.#checkpointHash = GENESIS;
      this.#segment = undefined;
      this.#due = this.#checkpoints.every;
      this.#previous = {
        file: basename(aside),
        lastCheckpoint: damage.lastCheckpoint,
        code: damage.code,
        reason: damage.reason,
        ...(recorded !== undefined && { expectedHead: { segment: recorded.segment, seq: recorded.seq, hash: recorded.hash } }),
      };
      this.#report({ ...damage, setAsideAs: aside });
    }
    this.#chainKey = chainKey;
    this.#state = 'ready';
  }

  /** Appends one entry; resolves when it is durable. @throws KeyholdError KH_AUDIT_UNAVAILABLE */
  append(fields: AuditFields): Promise<AuditEntry> {
    // Not the handle: it is briefly undefined while a damaged file is set aside, and appends then wait for the new one.
    if (this.#closed || this.#failed !== undefined) return Promise.reject(new KeyholdError('KH_AUDIT_UNAVAILABLE', undefined, { cause: this.#failed }));
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
      const refuse = (p: Pending, why: string | undefined, cause?: unknown) => p.reject(new KeyholdError('KH_AUDIT_UNAVAILABLE', why, cause === undefined ? undefined : { cause }));
      const key = this.#state !== 'ready' || this.#seq === 0 || this.#checkpointMayFall(batch.length) ? await this.#checkpointKey() : undefined;
      if (this.#state !== 'ready') {
        if (key === undefined) {
          for (const p of batch) refuse(p, 'the audit log is verified and extended only while unsealed');
          continue;
        }
        let recorded: AuditHead | undefined;
        try {
          recorded = await this.#headStore?.get();
        } catch (e) {
          // Cannot compare yet (sealed meanwhile, storage fault): nothing is written, the next batch tries again.
          for (const p of batch) refuse(p, 'the audit head record cannot be read', e);
          continue;
        }
        try {
          await this.#verifyOrSetAside(key, recorded);
        } catch (e) {
          this.#failed = e;
          for (const p of [...batch, ...this.#queue]) refuse(p, undefined, e);
          this.#queue = [];
          break;
        }
      }
      const chainKey = this.#chainKey!;
      const every = this.#checkpoints.every;
      const written: { p: Pending; entry: AuditEntry }[] = [];
      const lines: string[] = [];
      let seq = this.#seq;
      let prev = this.#prev;
      let checkpointSeq = this.#checkpointSeq;
      let checkpointHash = this.#checkpointHash;
      let segment = this.#segment;
      let due = this.#due;
      const time = this.#now();
      const checkpoint = (genesis: boolean): boolean => {
        if (key === undefined) return false;
        const fields = checkpointFields(key, { seq, hash: prev }, genesis ? 0 : seq - checkpointSeq, every, genesis ? { previous: this.#previous } : undefined);
        if (fields === undefined) return false;
        const { entry, line } = sealLine(fields, ++seq, prev, time, chainKey);
        prev = entry.hash;
        checkpointSeq = entry.seq;
        checkpointHash = entry.hash;
        if (genesis) segment = entry.hash;
        due = every;
        lines.push(line);
        return true;
      };
      if (seq === 0 && !checkpoint(true)) {
        for (const p of batch) refuse(p, 'a new audit log starts with a signed genesis checkpoint, which needs the vault unsealed');
        continue;
      }
      for (const p of batch) {
        // Never more than `due` entries without a checkpoint: without a key, the entry is refused.
        if (seq - checkpointSeq >= due && !checkpoint(false)) {
          refuse(p, 'a signed checkpoint is due and the vault is sealed');
          continue;
        }
        try {
          const { entry, line } = sealLine(p.fields, seq + 1, prev, time, chainKey);
          seq++;
          prev = entry.hash;
          written.push({ p, entry });
          lines.push(line);
        } catch (e) {
          // Not JSON data: a programming error in the caller; only this entry fails.
          refuse(p, 'the audit entry is not JSON data', e);
          continue;
        }
        if (seq - checkpointSeq >= due) checkpoint(false);
      }
      if (lines.length === 0) continue;
      try {
        await this.#handle!.appendFile(lines.join(''));
        await this.#handle!.datasync();
        const newCheckpoint = checkpointSeq !== this.#checkpointSeq;
        this.#seq = seq;
        this.#prev = prev;
        this.#checkpointSeq = checkpointSeq;
        this.#checkpointHash = checkpointHash;
        this.#segment = segment;
        this.#due = due;
        if (this.#previous !== null && checkpointSeq > 0) this.#previous = null;
        for (const { p, entry } of written) p.resolve(entry);
        // Only now, after the fdatasync: the record is never ahead of the durable file.
        if (newCheckpoint && segment !== undefined) await this.#recordHead({ segment, seq: checkpointSeq, hash: checkpointHash });
      } catch (e) {
        this.#failed = e;
        const err = new KeyholdError('KH_AUDIT_UNAVAILABLE', undefined, { cause: e });
        for (const p of [...written.map((w) => w.p), ...this.#queue]) p.reject(err);
        this.#queue = [];
      }
    }
    this.#flushing = undefined;
  }

  /**
   * Records the head behind the barrier. A failure (sealed meanwhile, storage
   * fault) only leaves the record behind the file, which the next checkpoint
   * catches up; it never fails the entries already acknowledged.
   */
  async #recordHead(head: AuditHead): Promise<void> {
    try {
      await this.#headStore?.put(head);
    } catch {
      // See above: a lagging record weakens nothing it did not already cover.
    }
  }

  /** Whether a checkpoint falls in the next batch: the key is asked for only then (once per N entries, or while one is overdue). */
  #checkpointMayFall(batchSize: number): boolean {
    return this.#seq + batchSize - this.#checkpointSeq >= this.#due;
  }

  /** The key, or undefined while sealed (or when it cannot be loaded). */
  async #checkpointKey(): Promise<CheckpointKey | undefined> {
    try {
      return await this.#checkpoints.signer.current();
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
    wipe(this.#chainKey);
    this.#chainKey = undefined;
  }
}
