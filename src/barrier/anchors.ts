/**
 * The barrier's side of the external rollback anchors (storage/rollback-anchor.ts):
 * what is written to them, how it is checked at unseal, and how bumps are
 * batched so no anchor sits on a write's path.
 *
 * Blob: "KHRA1" | generation(u64) | HMAC-SHA-256(anchor key, "KHRA1" | generation).
 * The anchor key is derived from the keyring's index key, so a blob cannot be
 * forged (or moved from another vault) without the root key; an anchor can
 * only be replayed, which is why it must live where the host cannot write.
 *
 * Window: a bump is written after the transaction that made the generation
 * has committed, one write per anchor at a time, later bumps coalescing into
 * the next write. So an anchor lags the database by at most the writes of one
 * anchor round trip (milliseconds for a file, one C_SetAttributeValue for the
 * HSM); a rollback to a copy taken inside that window is not detected.
 *
 * Bound (issue 15, review 8): an anchor that fails or hangs would stretch
 * that window without limit, so an attacker who blocks the anchor could then
 * roll back every later write. Once an anchor lags by more than
 * maxLagGenerations generations or maxLagSeconds seconds, writes are refused
 * (KH_STORAGE_ANCHOR_UNAVAILABLE) until it catches up; reads keep working.
 * A failed write is retried on a timer, since refused writes bump nothing.
 */
import { KeyholdError } from '../errors.js';
import { concatBytes, constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hmac.js';
import type { RollbackAnchor } from '../storage/rollback-anchor.js';
import { getU64, writeU64 } from './storage-state.js';

const MAGIC = utf8('KHRA1');
const BLOB_BYTES = MAGIC.length + 8 + 32;

export function anchorKeyOf(indexKey: Uint8Array): Uint8Array {
  return hmacSha256(indexKey, 'keyhold-rollback-anchor-v1');
}

function blob(key: Uint8Array, generation: number): Uint8Array {
  const body = concatBytes(MAGIC, writeU64(generation));
  return concatBytes(body, hmacSha256(key, body));
}

/** The generation a blob claims, unauthenticated (to pick the newest of several; check() authenticates it). */
export function blobGeneration(bytes: Uint8Array): number | undefined {
  if (bytes.length !== BLOB_BYTES) return undefined;
  return getU64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), MAGIC.length);
}

/** The generation a blob names, or undefined when it is not this vault's authentic blob. */
function openBlob(key: Uint8Array, bytes: Uint8Array): number | undefined {
  if (bytes.length !== BLOB_BYTES || !constantTimeEqual(bytes.subarray(0, MAGIC.length), MAGIC)) return undefined;
  const body = bytes.subarray(0, MAGIC.length + 8);
  if (!constantTimeEqual(hmacSha256(key, body), bytes.subarray(MAGIC.length + 8))) return undefined;
  return getU64(new DataView(body.buffer, body.byteOffset, body.byteLength), MAGIC.length);
}

/** How far an anchor may fall behind the database before writes are refused. */
export interface AnchorLagBounds {
  readonly maxLagGenerations: number;
  readonly maxLagSeconds: number;
}

export const DEFAULT_ANCHOR_LAG: AnchorLagBounds = Object.freeze({ maxLagGenerations: 1000, maxLagSeconds: 30 });

/** A failed anchor write is retried this often while the vault is unsealed. */
const RETRY_MS = 1000;

export interface AnchorEvents {
  /** An anchor write failed (the vault keeps serving; the anchor lags until the next write succeeds). */
  error(message: string): void;
  /** An operator's `adopt` was applied at unseal. */
  warn(message: string): void;
}

class AnchorWriter {
  readonly anchor: RollbackAnchor;
  #key: Uint8Array;
  #latest = 0;
  #written = 0;
  #running: Promise<void> | undefined;
  /** When the anchor last fell behind the database (ms since the epoch); undefined while it is current. */
  #behindSince: number | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  failing = false;

  constructor(anchor: RollbackAnchor, key: Uint8Array, written: number) {
    this.anchor = anchor;
    this.#key = key;
    this.#latest = this.#written = written;
  }

  bump(generation: number, events: AnchorEvents): void {
    if (generation > this.#latest) {
      if (this.#written === this.#latest) this.#behindSince = Date.now();
      this.#latest = generation;
    }
    this.#running ??= this.#loop(events).finally(() => (this.#running = undefined));
  }

  /** How far the anchor is behind: generations, and seconds since it fell behind. */
  lag(now: number): { generations: number; seconds: number } {
    return { generations: this.#latest - this.#written, seconds: this.#behindSince === undefined ? 0 : (now - this.#behindSince) / 1000 };
  }

  /** No more retries (seal); a write in flight still finishes. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
  }

  async #loop(events: AnchorEvents): Promise<void> {
    while (this.#written < this.#latest) {
      const g = this.#latest;
      try {
        await this.anchor.write(blob(this.#key, g));
        this.#written = g;
        this.#behindSince = this.#written < this.#latest ? Date.now() : undefined;
        this.failing = false;
      } catch (e) {
        this.failing = true;
        events.error(`the ${this.anchor.name} rollback anchor could not be updated to generation ${g} (${e instanceof KeyholdError ? e.code : 'error'}); it lags until a write succeeds (retried every ${RETRY_MS / 1000} s)`);
        if (!this.#stopped) {
          clearTimeout(this.#retry);
          // Unref'd: a lagging anchor must not keep a stopping process alive.
          this.#retry = setTimeout(() => this.bump(this.#latest, events), RETRY_MS).unref();
        }
        return;
      }
    }
  }

  flush(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }
}

export class AnchorSet {
  readonly #anchors: readonly RollbackAnchor[];
  readonly #events: AnchorEvents;
  readonly #bounds: AnchorLagBounds;
  #writers: AnchorWriter[] = [];

  constructor(anchors: readonly RollbackAnchor[], events: AnchorEvents, bounds: AnchorLagBounds = DEFAULT_ANCHOR_LAG) {
    this.#anchors = anchors;
    this.#events = events;
    this.#bounds = bounds;
  }

  /**
   * Before a write transaction: refuses it while some anchor lags beyond the
   * bounds, so that blocking an anchor cannot widen the undetected-rollback
   * window without limit.
   * @throws KeyholdError KH_STORAGE_ANCHOR_UNAVAILABLE
   */
  assertWritable(): void {
    const now = Date.now();
    for (const w of this.#writers) {
      const { generations, seconds } = w.lag(now);
      if (generations > this.#bounds.maxLagGenerations || seconds > this.#bounds.maxLagSeconds)
        throw new KeyholdError(
          'KH_STORAGE_ANCHOR_UNAVAILABLE',
          `the ${w.anchor.name} rollback anchor is ${generations} generations (${Math.round(seconds)} s) behind the database, beyond storage.rollbackAnchor.maxLagGenerations/maxLagSeconds: writes are refused until it catches up; reads still work`,
        );
    }
  }

  get size(): number {
    return this.#anchors.length;
  }

  /** True while the last write to some anchor failed. */
  get failing(): boolean {
    return this.#writers.some((w) => w.failing);
  }

  /**
   * At unseal: every anchor must name a generation no later than the
   * database's. A first use (or an `adopt`) writes the current generation.
   * @returns the anchor bits the storage state must carry from now on
   * `legacy`: the keyring is from before the storage upgrade (no anchor can have seen it).
   * @throws KeyholdError KH_STORAGE_ROLLBACK when an anchor is ahead of the database, or holds a blob beside a pre-upgrade keyring; KH_STORAGE_ANCHOR_UNAVAILABLE when one cannot be read, holds no authentic blob, or is empty after this vault wrote it.
   */
  async check(indexKey: Uint8Array, generation: number, knownBits: number, legacy = false): Promise<number> {
    const key = anchorKeyOf(indexKey);
    const writers: AnchorWriter[] = [];
    let bits = 0;
    for (const anchor of this.#anchors) {
      const stored = await anchor.read();
      let anchored: number;
      if (stored === 'adopt') {
        this.#events.warn(`the ${anchor.name} rollback anchor was set to adopt: the database's generation ${generation} is accepted as the latest`);
        anchored = -1;
      } else if (stored === undefined) {
        if ((knownBits & anchor.bit) !== 0)
          throw new KeyholdError('KH_STORAGE_ANCHOR_UNAVAILABLE', `the ${anchor.name} rollback anchor is empty, but this vault has written it before: restore it, or write "adopt" into it to accept the database as it is`);
        anchored = -1;
      } else {
        const g = openBlob(key, stored);
        if (g === undefined) throw new KeyholdError('KH_STORAGE_ANCHOR_UNAVAILABLE', `the ${anchor.name} rollback anchor does not hold this vault's anchor (another vault's, or damaged)`);
        // Anchors exist only since the upgrade: one that holds this vault's blob proves the upgrade happened, so a pre-upgrade keyring is a rollback.
        if (legacy) throw new KeyholdError('KH_STORAGE_ROLLBACK', `the ${anchor.name} rollback anchor has seen generation ${g}, but the keyring is from before the storage upgrade: the database was rolled back`);
        if (g > generation)
          throw new KeyholdError('KH_STORAGE_ROLLBACK', `the storage is at generation ${generation} but the ${anchor.name} rollback anchor has seen ${g}: the database was rolled back`);
        anchored = g;
      }
      if (anchored < generation) await anchor.write(blob(key, generation));
      writers.push(new AnchorWriter(anchor, key, generation));
      bits |= anchor.bit;
    }
    this.#writers = writers;
    return bits;
  }

  /** After a committed transaction: schedule the anchors' update to `generation`. */
  bump(generation: number): void {
    for (const w of this.#writers) w.bump(generation, this.#events);
  }

  /** Waits for scheduled anchor writes (seal, close, tests). */
  async flush(): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.flush()));
  }

  /** Forgets the writers (seal); pending writes still finish. */
  stop(): void {
    for (const w of this.#writers) w.stop();
    this.#writers = [];
  }
}
