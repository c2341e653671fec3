/**
 * A process-wide bound on concurrent password hashing (issue 15 M1). scrypt
 * at N = 2^15 costs ~32 MiB and tens of milliseconds of a libuv thread each;
 * unbounded, a flood of logins from many addresses fills the thread pool
 * (which fs and other crypto share) and a real login waits behind all of it.
 * A few run at once, a short queue waits, and the rest are refused at once
 * with KH_AUTH_BUSY and Retry-After rather than queued without bound.
 *
 * First come, first served let 40 concurrent logins from fresh /64s keep the
 * queue full so that the owner's login was refused 34 times out of 34
 * (review finding 3). So the bound is shared fairly:
 * - a caller identified as a stranger (see `asHashingCaller`) may hold at
 *   most one running-or-queued hash per address block: one attacker's
 *   allocation gets one place, not all of them. Further strangers of the
 *   same block wait in the block's own short line (BLOCK_WAITING), outside
 *   the shared queue, so two people behind one NAT who log in at the same
 *   moment both get in, one after the other, and a flood from one block
 *   still holds one shared place;
 * - callers that logged in from this (account, address) before have slots
 *   of their own (`reserved`) that strangers never take, and go first when a
 *   slot frees.
 * Work run outside any caller context (hashing a new password for an
 * authenticated administrator) shares the strangers' slots without a block.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { KeyholdError } from '../errors.js';

/** Who the hashing is for: the address block it is counted under, and whether this (account, address) logged in before. */
export interface HashingCaller {
  readonly block: string;
  readonly known: boolean;
}

const callers = new AsyncLocalStorage<HashingCaller>();

/** Runs `work` with every password hash it starts attributed to `caller`. */
export function asHashingCaller<T>(caller: HashingCaller, work: () => Promise<T>): Promise<T> {
  return callers.run(caller, work);
}

/** Slots only callers known from an earlier login may use. */
export interface ReservedSlots {
  readonly running: number;
  readonly queued: number;
}

const busy = () => Object.assign(new KeyholdError('KH_AUTH_BUSY'), { retryAfterSeconds: 1 });

/** Strangers of one block waiting for the block's turn, beyond the one holding it. */
const BLOCK_WAITING = 3;

export class HashingLimit {
  readonly #maxRunning: number;
  readonly #maxQueued: number;
  readonly #reserved: ReservedSlots;
  #running = 0;
  #generalRunning = 0;
  readonly #generalQueue: (() => void)[] = [];
  readonly #knownQueue: (() => void)[] = [];
  // Blocks with a stranger's hash running or queued, and the strangers of that block waiting for their turn.
  readonly #blocks = new Map<string, (() => void)[]>();

  /** `maxRunning` and `maxQueued` are the general share; `reserved` comes on top, for known callers only. */
  constructor(maxRunning: number, maxQueued: number, reserved: ReservedSlots = { running: 0, queued: 0 }) {
    this.#maxRunning = maxRunning;
    this.#maxQueued = maxQueued;
    this.#reserved = reserved;
  }

  /**
   * Runs `work` when a slot is free.
   * @throws KeyholdError KH_AUTH_BUSY (retryAfterSeconds 1) when the caller's share is full, or its block's line is full; `work` does not run
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const caller = callers.getStore();
    const known = caller?.known === true;
    const block = caller !== undefined && !known ? caller.block : undefined;
    if (block === undefined) return this.#runInShare(known, work);
    const line = this.#blocks.get(block);
    if (line === undefined) this.#blocks.set(block, []);
    else {
      if (line.length >= BLOCK_WAITING) throw busy();
      // The block's turn is handed over by the holder's release, so nobody of this block jumps the line.
      await new Promise<void>((resolve) => line.push(resolve));
    }
    try {
      return await this.#runInShare(false, work);
    } finally {
      const waiting = this.#blocks.get(block)!;
      const next = waiting.shift();
      if (next === undefined) this.#blocks.delete(block);
      else next();
    }
  }

  async #runInShare<T>(known: boolean, work: () => Promise<T>): Promise<T> {
    if (known ? this.#knownCanStart() : this.#generalCanStart()) {
      this.#take(known);
    } else {
      const queue = known ? this.#knownQueue : this.#generalQueue;
      if (queue.length >= (known ? this.#reserved.queued : this.#maxQueued)) throw busy();
      // The slot is taken for this waiter by #dispatch before it is woken, so a newcomer never jumps the queue.
      await new Promise<void>((resolve) => queue.push(resolve));
    }
    try {
      return await work();
    } finally {
      this.#running--;
      if (!known) this.#generalRunning--;
      this.#dispatch();
    }
  }

  #total(): number {
    return this.#maxRunning + this.#reserved.running;
  }

  #knownCanStart(): boolean {
    return this.#knownQueue.length === 0 && this.#running < this.#total();
  }

  #generalCanStart(): boolean {
    return this.#generalQueue.length === 0 && this.#running < this.#total() && this.#generalRunning < this.#maxRunning;
  }

  #take(known: boolean): void {
    this.#running++;
    if (!known) this.#generalRunning++;
  }

  /** Hands free slots to waiters: known callers first, then the general queue within its share. */
  #dispatch(): void {
    for (;;) {
      if (this.#knownQueue.length > 0 && this.#running < this.#total()) {
        this.#take(true);
        this.#knownQueue.shift()!();
      } else if (this.#generalQueue.length > 0 && this.#running < this.#total() && this.#generalRunning < this.#maxRunning) {
        this.#take(false);
        this.#generalQueue.shift()!();
      } else return;
    }
  }
}
