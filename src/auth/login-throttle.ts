/**
 * Login throttling, in memory, per node (docs/authentication.md "Login abuse").
 *
 * Two counters per attempt, never one per account alone:
 * - per (account, source address): 3 free failures, then a lock of
 *   2^(failures-3) s, doubling up to 15 minutes;
 * - per source address: 20 free failures (many accounts behind one NAT),
 *   then the same doubling.
 * A stranger's failures therefore lock only the stranger's address: the
 * owner logging in from anywhere else is never refused (issue 15 M2), which
 * is why there is no per-account lock at all. Source addresses are grouped
 * the way they are allocated: IPv4 per address, IPv6 per /64 (a single host
 * commonly holds a whole /64), IPv4-mapped IPv6 as IPv4.
 *
 * An attempt is counted when it starts, before any password hashing, and
 * refunded when it succeeds (issue 15 M1): N concurrent guesses cost at most
 * the free allowance in hashing, not N. Counters idle for an hour are
 * forgotten; the table is bounded, evicting idle and unlocked counters first
 * so a flood of fresh addresses cannot reset a lock.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { KeyholdError } from '../errors.js';

const PAIR_FREE_FAILURES = 3;
const ADDRESS_FREE_FAILURES = 20;
const MAX_LOCK_MS = 15 * 60_000;
const FORGET_AFTER_MS = 60 * 60_000;
const MAX_TRACKED = 100_000;

interface Counter {
  failures: number;
  lockedUntil: number;
  lastAt: number;
}

/** Who is trying: the account (absent when a method throttles per address only) and the source address. */
export interface LoginAttempt {
  readonly account?: string;
  readonly address: string | undefined;
}

/** An attempt counted up-front: it stays counted as a failure unless settled otherwise. */
export interface Reservation {
  /** The credential was right: clears the (account, address) counter and refunds the address. */
  succeed(): void;
  /** Nothing was guessed (server busy, second factor asked for): the attempt no longer counts. */
  refund(): void;
}

/** Errors after which the attempt does not count as a guess. */
const NOT_A_GUESS = new Set<string>(['KH_AUTH_BUSY', 'KH_AUTH_MFA_REQUIRED', 'KH_AUTH_NOT_CONFIGURED', 'KH_SEALED']);

/** The throttling unit of a source address: IPv4 as is, IPv6 by /64, IPv4-mapped IPv6 as its IPv4. */
export function throttleAddress(ip: string | undefined): string {
  if (ip === undefined || ip === '') return 'unknown';
  const bare = ip.split('%')[0]!.toLowerCase();
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare.slice(0, 64);
  const groups = expandIPv6(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a trailing dotted IPv4 expanded). */
function expandIPv6(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

export class LoginThrottle {
  readonly #counters = new Map<string, Counter>();

  /**
   * Counts an attempt before any credential is checked.
   * @throws KeyholdError KH_AUTH_LOCKED (with retryAfterSeconds) while the address, or the account at this address, is locked; nothing is counted then.
   */
  reserve(attempt: LoginAttempt, now = Date.now()): Reservation {
    const address = throttleAddress(attempt.address);
    const keys: [string, number][] = [[`addr:${address}`, ADDRESS_FREE_FAILURES]];
    if (attempt.account !== undefined) keys.push([`pair:${address}:${attempt.account}`, PAIR_FREE_FAILURES]);
    const until = Math.max(0, ...keys.map(([k]) => this.#current(k, now)?.lockedUntil ?? 0));
    if (until > now) {
      const seconds = Math.ceil((until - now) / 1000);
      throw Object.assign(new KeyholdError('KH_AUTH_LOCKED', `too many failed logins; try again in ${seconds} s`), { retryAfterSeconds: seconds });
    }
    for (const [k, free] of keys) this.#count(k, free, now);
    let settled = false;
    const settle = (clearPair: boolean) => {
      if (settled) return;
      settled = true;
      for (const [k, free] of keys) {
        if (clearPair && k.startsWith('pair:')) this.#counters.delete(k);
        else this.#uncount(k, free);
      }
    };
    return { succeed: () => settle(true), refund: () => settle(false) };
  }

  /**
   * Refuses a caller who is locked, counting nothing (for steps that check no credential, as issuing a challenge).
   * @throws KeyholdError KH_AUTH_LOCKED (with retryAfterSeconds)
   */
  check(attempt: LoginAttempt, now = Date.now()): void {
    this.reserve(attempt, now).refund();
  }

  /**
   * Runs one credential check under a reservation: success settles it, a
   * failure stays counted, an error that is not a guess is refunded.
   * @throws KeyholdError KH_AUTH_LOCKED, or whatever `check` throws
   */
  async attempt<T>(attempt: LoginAttempt, check: () => Promise<T>, now = Date.now()): Promise<T> {
    const reservation = this.reserve(attempt, now);
    let result: T;
    try {
      result = await check();
    } catch (e) {
      if (e instanceof KeyholdError && NOT_A_GUESS.has(e.code)) reservation.refund();
      throw e;
    }
    reservation.succeed();
    return result;
  }

  #current(key: string, now: number): Counter | undefined {
    const c = this.#counters.get(key);
    if (c !== undefined && c.lockedUntil <= now && now - c.lastAt > FORGET_AFTER_MS) {
      this.#counters.delete(key);
      return undefined;
    }
    return c;
  }

  #count(key: string, free: number, now: number): void {
    const c = this.#current(key, now) ?? { failures: 0, lockedUntil: 0, lastAt: now };
    c.failures++;
    c.lastAt = now;
    if (c.failures >= free) c.lockedUntil = now + Math.min(MAX_LOCK_MS, 1000 * 2 ** (c.failures - free));
    // Re-inserted so the map's order is least recently used first, for eviction.
    this.#counters.delete(key);
    this.#counters.set(key, c);
    if (this.#counters.size > MAX_TRACKED) this.#evict(now);
  }

  #uncount(key: string, free: number): void {
    const c = this.#counters.get(key);
    if (c === undefined) return;
    c.failures = Math.max(0, c.failures - 1);
    // The lock this attempt may have set up-front is lifted; one earned by real failures stays.
    if (c.failures < free) c.lockedUntil = 0;
  }

  /** Drops unlocked counters (least recently used first), and only then, if it must, locked ones. */
  #evict(now: number): void {
    const target = Math.floor(MAX_TRACKED * 0.9);
    for (const [k, c] of this.#counters) {
      if (this.#counters.size <= target) return;
      if (c.lockedUntil <= now) this.#counters.delete(k);
    }
    for (const k of this.#counters.keys()) {
      if (this.#counters.size <= target) return;
      this.#counters.delete(k);
    }
  }
}
