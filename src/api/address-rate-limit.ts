/**
 * A token bucket per source address for the public (unauthenticated) routes
 * (issue 15 M3): `burst` requests at once, then `perSecond`. IPv6 addresses
 * count per /64, the smallest block a single host is usually given, so
 * rotating through one's own addresses buys nothing. In memory, per node; the
 * table is dropped whole if it grows past its bound (every address then
 * starts with a full bucket, which only errs generous).
 */
import { isIPv6 } from 'node:net';

const MAX_TRACKED = 100_000;

/** The bucket an address counts against: itself (IPv4), or its /64 (IPv6; IPv4-mapped ones as IPv4). */
export function addressKey(ip: string | undefined): string {
  if (ip === undefined || ip === '') return 'unknown';
  if (!isIPv6(ip)) return ip;
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  // Expand '::' so the first four groups are the /64 prefix.
  const [head = '', tail] = lower.split('::');
  const groups = head === '' ? [] : head.split(':');
  if (tail !== undefined) {
    const rest = tail === '' ? [] : tail.split(':');
    groups.push(...Array<string>(Math.max(0, 8 - groups.length - rest.length)).fill('0'), ...rest);
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export class AddressRateLimit {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #burst: number;
  readonly #perSecond: number;

  constructor(options: { readonly burst: number; readonly perSecond: number }) {
    this.#burst = options.burst;
    this.#perSecond = options.perSecond;
  }

  /** Takes one token for `ip`; returns undefined when allowed, else the seconds until a token is back (for Retry-After). */
  take(ip: string | undefined, now = Date.now()): number | undefined {
    const key = addressKey(ip);
    if (this.#buckets.size >= MAX_TRACKED && !this.#buckets.has(key)) this.#buckets.clear();
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens < 1) return Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond));
    b.tokens -= 1;
    return undefined;
  }
}
