/**
 * Replay cache for request-signature nonces (RFC 9421 §7.2.2, docs/protocols.md §5).
 *
 * A nonce has to be remembered only while the signature carrying it is still
 * acceptable (until its `expires`); after that the signature itself is
 * refused as expired. So entries are bucketed by the second they expire in,
 * and a sweep drops whole buckets: its cost is the number of live buckets
 * (at most about `maxLifetimeMs / 1000`) plus the entries it removes, never a
 * scan of the whole cache.
 *
 * Bounded, and fails closed: when `maxEntries` live nonces are held and none
 * has expired, a new nonce is refused as if it had been seen (the caller
 * answers KH_SIG_REPLAYED) rather than accepted unrecorded or let grow. Only
 * holders of a bound key can add entries (the signature is verified first),
 * and each lives at most ~65 s, so reaching the bound takes sustained load
 * of about maxEntries / 65 signed requests per second.
 *
 * In-memory, per process: behind a load balancer without sticky sessions, a
 * nonce could be replayed once against each node within its 60 s.
 */

export interface NonceCacheOptions {
  /** Most live nonces held at once. Default 100 000. */
  maxEntries?: number;
  /** Refuse (as misuse) expiry times further ahead than this. Default 120 s. */
  maxLifetimeMs?: number;
}

export class NonceCache {
  readonly #max: number;
  readonly #maxLifetimeMs: number;
  /** key -> expiry (ms); the nonce counts as seen while now <= expiry. */
  readonly #entries = new Map<string, number>();
  /** expiry second -> keys expiring in it. */
  readonly #buckets = new Map<number, string[]>();
  #nextSweep = 0;

  constructor(options: NonceCacheOptions = {}) {
    // 1M entries (~100 MB at worst) admit ~15k signed requests/s, above what one
    // node can verify (~100 µs of CPU each); 100k capped a node at ~1.6k/s.
    this.#max = options.maxEntries ?? 1_000_000;
    this.#maxLifetimeMs = options.maxLifetimeMs ?? 120_000;
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) throw new TypeError('maxEntries must be a positive integer');
    if (!(this.#maxLifetimeMs > 0)) throw new TypeError('maxLifetimeMs must be positive');
  }

  /** Live entries (after the last sweep). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Checks and records in one step. Returns true when the request must be
   * refused: `key` was recorded before and has not expired, or the cache is
   * full of live entries. Otherwise records `key` until `expiresAtMs`
   * (inclusive) and returns false. An already-expired `expiresAtMs` is not
   * recorded (a signature that old is refused anyway).
   * @throws TypeError when `expiresAtMs` is more than `maxLifetimeMs` ahead of `now`.
   */
  seen(key: string, expiresAtMs: number, now: number = Date.now()): boolean {
    if (!Number.isFinite(expiresAtMs) || expiresAtMs - now > this.#maxLifetimeMs) {
      throw new TypeError('nonce expiry is too far ahead');
    }
    // Sweep at most once a second, and whenever full (cheap: see the header).
    if (now >= this.#nextSweep || this.#entries.size >= this.#max) this.#sweep(now);
    const prior = this.#entries.get(key);
    if (prior !== undefined && prior >= now) return true;
    if (expiresAtMs < now) return false;
    if (prior === undefined && this.#entries.size >= this.#max) return true; // full: fail closed
    this.#entries.set(key, expiresAtMs);
    const second = Math.floor(expiresAtMs / 1000);
    const bucket = this.#buckets.get(second);
    if (bucket === undefined) this.#buckets.set(second, [key]);
    else bucket.push(key);
    return false;
  }

  #sweep(now: number): void {
    this.#nextSweep = now + 1000;
    for (const [second, keys] of this.#buckets) {
      if ((second + 1) * 1000 <= now) {
        for (const k of keys) {
          // A key may have been re-recorded later with a newer expiry (in
          // another bucket); drop it only if its current entry has expired.
          const exp = this.#entries.get(k);
          if (exp !== undefined && exp < now) this.#entries.delete(k);
        }
        this.#buckets.delete(second);
      }
    }
  }
}
