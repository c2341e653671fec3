/**
 * Login throttling per account and per source address: after 3 failures a
 * key is locked for 2^(failures-3) seconds, doubling up to 15 minutes. A
 * success clears the account's counter (not the address's: one attacker
 * address trying many accounts stays slowed). In memory, per node.
 */
import { KeyholdError } from '../errors.js';

const FREE_FAILURES = 3;
const MAX_LOCK_MS = 15 * 60_000;
const MAX_TRACKED = 100_000;

interface Counter {
  failures: number;
  lockedUntil: number;
}

export class LoginThrottle {
  readonly #counters = new Map<string, Counter>();

  /** @throws KeyholdError KH_AUTH_LOCKED (with retryAfterSeconds) while either key is locked. */
  check(keys: string[], now = Date.now()): void {
    const until = Math.max(0, ...keys.map((k) => this.#counters.get(k)?.lockedUntil ?? 0));
    if (until > now) {
      const err = new KeyholdError('KH_AUTH_LOCKED', `too many failed logins; try again in ${Math.ceil((until - now) / 1000)} s`);
      throw Object.assign(err, { retryAfterSeconds: Math.ceil((until - now) / 1000) });
    }
  }

  fail(keys: string[], now = Date.now()): void {
    if (this.#counters.size > MAX_TRACKED) this.#counters.clear();
    for (const k of keys) {
      const c = this.#counters.get(k) ?? { failures: 0, lockedUntil: 0 };
      c.failures++;
      if (c.failures >= FREE_FAILURES) c.lockedUntil = now + Math.min(MAX_LOCK_MS, 1000 * 2 ** (c.failures - FREE_FAILURES));
      this.#counters.set(k, c);
    }
  }

  succeed(accountKey: string): void {
    this.#counters.delete(accountKey);
  }
}
