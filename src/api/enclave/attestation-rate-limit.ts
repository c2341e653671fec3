/**
 * Fresh attestation documents cost an ES384 signature (and on Nitro a trip
 * to the NSM) each, and anyone may ask for one. A token bucket per source
 * address bounds that work: `burst` documents at once, then `perSecond`.
 * In memory, per node; the table is dropped whole if it grows past its bound
 * (every address then starts with a full bucket, which only errs generous).
 */
import { KeyholdError } from '../../errors.js';

const MAX_TRACKED = 100_000;

export class AttestationRateLimit {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #burst: number;
  readonly #perSecond: number;

  constructor(options: { burst: number; perSecond: number }) {
    this.#burst = options.burst;
    this.#perSecond = options.perSecond;
  }

  /** @throws KeyholdError KH_ATTESTATION_RATE_LIMITED when `source` has no token left. */
  take(source: string, now = Date.now()): void {
    if (this.#buckets.size >= MAX_TRACKED && !this.#buckets.has(source)) this.#buckets.clear();
    const b = this.#buckets.get(source) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(source, b);
      throw new KeyholdError('KH_ATTESTATION_RATE_LIMITED');
    }
    b.tokens -= 1;
    this.#buckets.set(source, b);
  }
}
