/**
 * The hash chain of the audit log. Each entry is one JSON line:
 *   { "seq": n, "time": ISO-8601, "prev": hex(hash of entry n-1), ...fields, "hash": hex, "mac": hex }
 * hash = SHA-256("keyhold-audit-v1" 0x00 || prev || canonical JSON of the entry without "hash" and "mac"),
 * canonical = keys sorted at every level (canonical-json.ts). The first entry's
 * prev is 64 zeros, and the first entry is always a signed genesis checkpoint
 * (checkpoint.ts).
 * mac = HMAC-SHA256(chain key, "keyhold-audit-mac-v1" 0x00 || hash), hex. The
 * chain key is derived from the audit-signing seed behind the barrier
 * (signing-key.ts), so nobody without a barrier key can write an entry the
 * node will accept: the node checks the MACs of the entries after the last
 * checkpoint before it extends a log. Offline verifiers without the key check
 * the public SHA-256 chain and the checkpoint signatures instead.
 *
 * Verification (verifyLines) never stops at the first bad line: it reports
 * every damaged line with its number and reason and resynchronises on the
 * next line that parses, adopting that entry's seq and hash.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson, type AuditFields, type AuditValue } from './canonical-json.js';
import { checkCheckpoint, isCheckpoint, type CheckpointVerifier } from './checkpoint.js';

export const GENESIS = '0'.repeat(64);

export type { AuditFields, AuditValue };
export { canonicalJson };

export interface AuditEntry extends AuditFields {
  seq: number;
  time: string;
  prev: string;
  hash: string;
}

function hashCanonical(prev: string, canonical: string): string {
  return createHash('sha256').update('keyhold-audit-v1\0').update(prev).update(canonical).digest('hex');
}

/** The chain MAC of an entry hash. */
export function entryMac(chainKey: Uint8Array, hash: string): string {
  return createHmac('sha256', chainKey).update('keyhold-audit-mac-v1\0').update(hash).digest('hex');
}

/** @throws TypeError when the entry is not JSON data (canonicalJson). */
export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string; mac?: string }): string {
  const { hash: _ignored, mac: _mac, ...rest } = entry;
  return hashCanonical(String(entry.prev), canonicalJson(rest as AuditFields));
}

/**
 * The entry and its JSON line, serialising once: the line is the canonical
 * JSON that was hashed, with "hash" and "mac" appended (verifiers recompute
 * canonical form anyway, so the key order of the line does not matter).
 * @throws TypeError when `fields` is not JSON data; nothing is written then.
 */
export function sealLine(fields: AuditFields, seq: number, prev: string, time: Date, chainKey: Uint8Array): { entry: AuditEntry; line: string } {
  const body = { ...fields, seq, time: time.toISOString(), prev };
  const canonical = canonicalJson(body);
  const hash = hashCanonical(prev, canonical);
  const mac = entryMac(chainKey, hash);
  return { entry: { ...body, hash, mac }, line: `${canonical.slice(0, -1)},"hash":"${hash}","mac":"${mac}"}\n` };
}

export interface VerifyOptions {
  /** The node's audit-signing key, pinned by the operator: checkpoints must verify, the log must start with a genesis and keep the signed cadence. */
  publicKey?: CheckpointVerifier;
  /** seq and hash of a checkpoint seen earlier (by a monitor): the log must hold exactly that entry. */
  expectHead?: { seq: number; hash: string };
  /** The node's chain-MAC key: every entry's mac must verify (the node's own check before it extends a log). */
  chainKey?: Uint8Array;
  /**
   * The lines are the tail of a log starting at a checkpoint (what the node
   * reads at open): no genesis is required, and the first line must be a checkpoint.
   */
  tail?: boolean;
}

export interface Damage {
  /** 1-based line number (in what was given), or 0 for a finding about the log as a whole. */
  line: number;
  reason: string;
}

export interface VerifyResult {
  /** No damage found. */
  ok: boolean;
  /** Entries that parsed, checkpoints included. */
  count: number;
  /** Hash of the last entry that parsed. */
  head: string;
  /** seq of the last entry that parsed (0 for an empty log). */
  headSeq: number;
  /** Checkpoints seen, and how many of them had their signature checked (all good ones, given a public key). */
  checkpoints: number;
  verified: number;
  /** The last checkpoint that had no damage, and whether its signature was checked. */
  lastCheckpoint: { seq: number; hash: string; verified: boolean } | null;
  /** Entries after the last checkpoint (all of them when there is none). */
  afterLastCheckpoint: number;
  damaged: Damage[];
}

const isHex64 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

function macMatches(chainKey: Uint8Array, entry: Record<string, unknown>): boolean {
  if (!isHex64(entry.mac)) return false;
  return timingSafeEqual(Buffer.from(entryMac(chainKey, String(entry.hash)), 'hex'), Buffer.from(entry.mac, 'hex'));
}

/**
 * Checks a log, reporting every damaged line and carrying on after it:
 * every line parses, seq counts up by one, prev links to the previous hash,
 * each hash recomputes, each checkpoint covers the entry before it and counts
 * the entries since the previous one. Given `publicKey` also: the first entry
 * is a genesis checkpoint, every checkpoint signature verifies, no run of
 * entries between checkpoints (or after the last one) is longer than the
 * cadence the previous checkpoint signed, and a log without checkpoints fails.
 */
export function verifyLines(lines: Iterable<string>, options: VerifyOptions = {}): VerifyResult {
  const damaged: Damage[] = [];
  const damage = (line: number, reason: string) => damaged.push({ line, reason });
  let prev: string | undefined;
  let expectedSeq: number | undefined;
  let headSeq = 0;
  let count = 0;
  let line = 0;
  let checkpoints = 0;
  let verified = 0;
  let lastCheckpoint: VerifyResult['lastCheckpoint'] = null;
  /** Entries since the last checkpoint, and the cadence that checkpoint promised. */
  let since = 0;
  let cadence: number | undefined;
  let first = true;
  let sawExpected = false;
  const strict = options.publicKey !== undefined;
  // A line that cannot be read is taken as one entry: the next one is expected one seq later, its link is not checkable.
  const skipOne = () => {
    if (expectedSeq !== undefined) expectedSeq++;
    prev = undefined;
    since++;
  };
  for (const text of lines) {
    line++;
    if (text === '') continue;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(text) as AuditEntry;
    } catch {
      damage(line, 'not JSON');
      skipOne();
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Number.isSafeInteger(entry.seq) || !isHex64(entry.prev) || !isHex64(entry.hash)) {
      damage(line, 'missing seq, prev or hash');
      skipOne();
      continue;
    }
    const isFirst = first;
    first = false;
    if (expectedSeq !== undefined && entry.seq !== expectedSeq) damage(line, `sequence ${entry.seq} where ${expectedSeq} was expected (deleted, inserted or reordered entry)`);
    else if (prev !== undefined && entry.prev !== prev) damage(line, 'prev does not match the previous entry hash (deleted, inserted or reordered entry)');
    if (isFirst && !options.tail && (entry.seq !== 1 || entry.prev !== GENESIS)) damage(line, 'the first entry does not start the chain (seq 1, prev zeros): the log was cut at its start');
    let hashOk: boolean;
    try {
      hashOk = entryHash(entry) === entry.hash;
    } catch {
      hashOk = false;
    }
    if (!hashOk) damage(line, 'hash mismatch (edited entry)');
    else if (options.chainKey !== undefined && !macMatches(options.chainKey, entry)) damage(line, "mac does not verify (an entry not written with the node's chain key)");
    // Resynchronise on this entry whatever was wrong with it: one bad line is one report.
    prev = entry.hash;
    expectedSeq = entry.seq + 1;
    headSeq = entry.seq;
    count++;
    if (options.expectHead !== undefined && entry.seq === options.expectHead.seq) {
      sawExpected = true;
      if (entry.hash !== options.expectHead.hash) damage(line, `the entry at seq ${entry.seq} is not the expected head (the log was rewritten from there)`);
    }
    if (isCheckpoint(entry)) {
      const check = checkCheckpoint(entry, options.publicKey);
      if (!check.ok) {
        damage(line, check.reason);
      } else {
        if (check.genesis && !(isFirst && entry.seq === 1)) damage(line, 'a genesis checkpoint that is not the first entry of the log');
        if (check.count !== since && cadence !== undefined) damage(line, `checkpoint counts ${check.count} entries since the previous one, the log holds ${since}`);
        if (hashOk) {
          checkpoints++;
          if (check.verified) verified++;
          lastCheckpoint = { seq: entry.seq, hash: entry.hash, verified: check.verified };
        }
        cadence = check.every;
      }
      if (isFirst && !options.tail && strict && !(check.ok && check.genesis)) damage(line, 'the log does not start with a genesis checkpoint');
      since = 0;
      continue;
    }
    if (isFirst && strict && !options.tail) damage(line, 'the log does not start with a genesis checkpoint');
    if (isFirst && options.tail) damage(line, 'the tail does not start at a checkpoint');
    since++;
    if (strict && cadence !== undefined && since === cadence + 1) damage(line, `more than ${cadence} entries since the last checkpoint, the cadence it signed (a checkpoint was removed)`);
  }
  if (strict && checkpoints === 0 && count > 0) damage(0, 'no valid signed checkpoint in the log');
  if (options.expectHead !== undefined && !sawExpected) damage(0, `the log ends at seq ${headSeq}, before the expected head ${options.expectHead.seq} (it was cut)`);
  return { ok: damaged.length === 0, count, head: prev ?? GENESIS, headSeq, checkpoints, verified, lastCheckpoint, afterLastCheckpoint: since, damaged };
}
