/**
 * Password hashes in VSSM's scrypt format (docs/compat.md#vssm, Configuration), so a VSSM
 * configuration's root password works as is:
 *   $s0$<hex params>$<base64 salt>$<base64 32-byte hash>,  params = log2(N) << 16 | r << 8 | p
 * Verification is constant-time; a malformed hash never verifies.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { HashingLimit } from './hashing-limit.js';

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const HASH_BYTES = 32;
let evaluations = 0;
// Two at a time for strangers (this is a vault, not a password-hashing service: the libuv pool has 4 threads that fs
// and other crypto share); sixteen waiting is a few hundred milliseconds, past that the caller is told to come back.
// One more running and eight more waiting are reserved for (account, address) pairs that logged in before, so a flood
// of strangers cannot keep the regular users out (review finding 3); it still leaves a libuv thread for fs.
const limit = new HashingLimit(2, 16, { running: 1, queued: 8 });

/** How many scrypt derivations this process has run (a metric, and how tests count the work an attack costs). */
export function scryptEvaluations(): number {
  return evaluations;
}

export function parseScryptHash(text: string): ParsedHash | undefined {
  const m = /^\$s0\$([0-9a-fA-F]{1,8})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (m === null) return undefined;
  const params = parseInt(m[1]!, 16);
  const logN = params >> 16;
  const r = (params >> 8) & 0xff;
  const p = params & 0xff;
  const salt = Buffer.from(m[2]!, 'base64');
  const hash = Buffer.from(m[3]!, 'base64');
  if (logN < 1 || logN > 20 || r < 1 || p < 1 || hash.length !== HASH_BYTES || salt.length < 8) return undefined;
  return { N: 2 ** logN, r, p, salt, hash };
}

/** Every scrypt evaluation goes through here, and so through the process-wide limit. @throws KeyholdError KH_AUTH_BUSY */
function derive(password: string, h: Pick<ParsedHash, 'N' | 'r' | 'p' | 'salt'>): Promise<Buffer> {
  return limit.run(() => {
    evaluations++;
    return new Promise<Buffer>((resolve, reject) =>
      scrypt(password.normalize('NFC'), h.salt, HASH_BYTES, { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
    );
  });
}

/** Hashes a password with N = 2^15, r = 8, p = 1 (VSSM's default). @throws KeyholdError KH_AUTH_BUSY when hashing is saturated */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, { N: 2 ** 15, r: 8, p: 1, salt });
  return `$s0$f0801$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** @throws KeyholdError KH_AUTH_BUSY when hashing is saturated (the password was not checked) */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseScryptHash(stored);
  if (parsed === undefined) return false;
  const candidate = await derive(password, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}
