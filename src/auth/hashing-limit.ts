/**
 * A process-wide bound on concurrent password hashing (issue 15 M1). scrypt
 * at N = 2^15 costs ~32 MiB and tens of milliseconds of a libuv thread each;
 * unbounded, a flood of logins from many addresses fills the thread pool
 * (which fs and other crypto share) and a real login waits behind all of it.
 * A few run at once, a short queue waits, and the rest are refused at once
 * with KH_AUTH_BUSY and Retry-After rather than queued without bound.
 */
import { KeyholdError } from '../errors.js';

export class HashingLimit {
  readonly #maxRunning: number;
  readonly #maxQueued: number;
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(maxRunning: number, maxQueued: number) {
    this.#maxRunning = maxRunning;
    this.#maxQueued = maxQueued;
  }

  /**
   * Runs `work` when a slot is free.
   * @throws KeyholdError KH_AUTH_BUSY (retryAfterSeconds 1) when every slot is taken and the queue is full; `work` does not run
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#maxRunning) {
      if (this.#queue.length >= this.#maxQueued) throw Object.assign(new KeyholdError('KH_AUTH_BUSY'), { retryAfterSeconds: 1 });
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so the running count never dips and lets a newcomer jump the queue.
      const next = this.#queue.shift();
      if (next !== undefined) next();
      else this.#running--;
    }
  }
}
