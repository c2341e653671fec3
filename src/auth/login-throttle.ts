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
 *
 * The second factor is the one exception, counted per account (review
 * finding 2): a wrong OTP or recovery code can only come from someone who
 * has the password, so no stranger can trip this lock, and without it a
 * password holder with many addresses guessed six-digit codes unthrottled.
 * After 5 failures the account's second factor is locked (KH_AUTH_MFA_LOCKED)
 * for 1 s, doubling up to 15 minutes; the owner is locked out of it too for
 * that time (Okta's factor lockout). The lock is only ever revealed after the
 * right password.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { KeyholdError } from '../errors.js';
import { asHashingCaller } from './hashing-limit.js';

const PAIR_FREE_FAILURES = 3;
const ADDRESS_FREE_FAILURES = 20;
const MAX_LOCK_MS = 15 * 60_000;
const FORGET_AFTER_MS = 60 * 60_000;
const MAX_TRACKED = 100_000;
const SECOND_FACTOR_FREE_FAILURES = 5;
// (account, address) pairs that logged in, remembered for the hashing limit's reserved slots; least recent dropped first.
const MAX_KNOWN_PAIRS = 10_000;

let secondFactorFailureCount = 0;
let secondFactorLockCount = 0;

/** Wrong second factors (after a right password) and the locks they set, process-wide: metrics. */
export function secondFactorStats(): { failures: number; locks: number } {
  return { failures: secondFactorFailureCount, locks: secondFactorLockCount };
}

/** Where a second-factor lock is reported (a pino logger fits). */
export interface LockLog {
  warn(facts: object, message: string): void;
}

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

/**
 * The block a source address shares password hashing with (hashing-limit.ts):
 * IPv4 per /24, IPv6 per /48, IPv4-mapped IPv6 as IPv4. These are the
 * smallest prefixes routed between networks (and what a hosting provider
 * hands a customer, at most), so one attacker's allocation is one block
 * however many addresses it holds; a /64 per host would let one /48 take
 * 65,536 places. Users sharing a block with an attacker still get the slots
 * reserved for pairs that logged in before.
 */
export function hashingBlock(ip: string | undefined): string {
  const unit = throttleAddress(ip);
  if (isIPv4(unit)) return `${unit.split('.').slice(0, 3).join('.')}.0/24`;
  if (unit.endsWith('::/64')) return `${unit.split(':').slice(0, 3).join(':')}::/48`;
  return unit;
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
  readonly #knownPairs = new Set<string>();

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
      if (clearPair && attempt.account !== undefined) this.#remember(`${attempt.account}\0${address}`);
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
    const known = attempt.account !== undefined && this.#knownPairs.has(`${attempt.account}\0${throttleAddress(attempt.address)}`);
    let result: T;
    try {
      result = await asHashingCaller({ block: hashingBlock(attempt.address), known }, check);
    } catch (e) {
      if (e instanceof KeyholdError && NOT_A_GUESS.has(e.code)) reservation.refund();
      throw e;
    }
    reservation.succeed();
    return result;
  }

  /**
   * Checks a second factor for `account`, whose password was right, counting
   * the attempt per account before the check runs (concurrent guesses cannot
   * outrun it). A wrong factor (`check` answers undefined) stays counted; a
   * right one clears the count. A failure that sets a lock is logged at warn.
   * @throws KeyholdError KH_AUTH_MFA_LOCKED (with retryAfterSeconds) while the account's second factor is locked; nothing is checked
   */
  async secondFactor<T>(account: string, check: () => Promise<T | undefined>, log: LockLog, now = Date.now()): Promise<T | undefined> {
    const key = `mfa:${account}`;
    const until = this.#current(key, now)?.lockedUntil ?? 0;
    if (until > now) {
      const seconds = Math.ceil((until - now) / 1000);
      throw Object.assign(new KeyholdError('KH_AUTH_MFA_LOCKED', `too many wrong second-factor codes; try again in ${seconds} s`), { retryAfterSeconds: seconds });
    }
    this.#count(key, SECOND_FACTOR_FREE_FAILURES, now);
    let result: T | undefined;
    try {
      result = await check();
    } catch (e) {
      this.#uncount(key, SECOND_FACTOR_FREE_FAILURES);
      throw e;
    }
    if (result !== undefined) {
      this.#counters.delete(key);
      return result;
    }
    secondFactorFailureCount++;
    const counter = this.#counters.get(key);
    if (counter !== undefined && counter.lockedUntil > now) {
      secondFactorLockCount++;
      // An account name, never a code: someone holding this password is guessing its second factor.
      log.warn({ account, failures: counter.failures, lockedForSeconds: Math.ceil((counter.lockedUntil - now) / 1000) }, 'second factor locked after repeated wrong codes');
    }
    return undefined;
  }

  #remember(pair: string): void {
    // Re-inserted so the set's order is least recently used first.
    this.#knownPairs.delete(pair);
    this.#knownPairs.add(pair);
    if (this.#knownPairs.size > MAX_KNOWN_PAIRS) this.#knownPairs.delete(this.#knownPairs.values().next().value!);
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
