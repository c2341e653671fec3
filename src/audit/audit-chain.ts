/**
 * The hash chain of the audit log. Each entry is one JSON line:
 *   { "seq": n, "time": ISO-8601, "prev": hex(hash of entry n-1), ...fields, "hash": hex }
 * hash = SHA-256("keyhold-audit-v1" 0x00 || prev || canonical JSON of the entry without "hash"),
 * canonical = keys sorted at every level. The first entry's prev is 64 zeros.
 * Any edit, deletion, insertion or reordering breaks a link; truncation is
 * visible against the count/hash an operator keeps (or a later checkpoint).
 * The chain alone does not stop someone who rewrites the whole file: signed
 * checkpoints (checkpoint.ts) do, up to the last checkpoint.
 */
import { createHash } from 'node:crypto';
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

export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = entry;
  return hashCanonical(String(entry.prev), canonicalJson(rest as AuditFields));
}

/**
 * The entry and its JSON line, serialising once: the line is the canonical
 * JSON that was hashed, with "hash" appended (verifiers recompute canonical
 * form anyway, so the key order of the line does not matter).
 */
export function sealLine(fields: AuditFields, seq: number, prev: string, time: Date): { entry: AuditEntry; line: string } {
  const body = { ...fields, seq, time: time.toISOString(), prev };
  const canonical = canonicalJson(body);
  const hash = hashCanonical(prev, canonical);
  return { entry: { ...body, hash }, line: `${canonical.slice(0, -1)},"hash":"${hash}"}\n` };
}

export interface VerifyOptions {
  /** The node's audit-signing key, pinned by the operator; without it checkpoint signatures are not checked. */
  publicKey?: CheckpointVerifier;
}

export type VerifyResult =
  | {
      ok: true;
      /** Entries, checkpoints included. */
      count: number;
      head: string;
      /** Checkpoints seen, and how many of them had their signature checked (all of them, given a public key). */
      checkpoints: number;
      verified: number;
      /** Entries after the last checkpoint (all of them when there is none): covered only by the chain. */
      afterLastCheckpoint: number;
    }
  | { ok: false; count: number; line: number; reason: string };

/**
 * Checks a log: every line parses, seq counts up by one from the first line
 * (a log that starts at seq 1 must start at the genesis hash), prev links to
 * the previous hash, each hash recomputes, and each checkpoint covers the
 * entry before it and, given `publicKey`, carries its valid signature.
 * Entries after the last checkpoint are covered only by the chain: cutting
 * or rewriting that tail is not detectable here, only against a head
 * (count and hash) that the operator kept.
 */
export function verifyLines(lines: Iterable<string>, options: VerifyOptions = {}): VerifyResult {
  let prev: string | undefined;
  let expectedSeq: number | undefined;
  let count = 0;
  let line = 0;
  let checkpoints = 0;
  let verified = 0;
  let afterLastCheckpoint = 0;
  for (const text of lines) {
    line++;
    if (text === '') continue;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(text) as AuditEntry;
    } catch {
      return { ok: false, count, line, reason: 'not JSON' };
    }
    if (typeof entry !== 'object' || entry === null || typeof entry.seq !== 'number' || typeof entry.prev !== 'string' || typeof entry.hash !== 'string')
      return { ok: false, count, line, reason: 'missing seq, prev or hash' };
    if (expectedSeq !== undefined && entry.seq !== expectedSeq) return { ok: false, count, line, reason: `sequence ${entry.seq} where ${expectedSeq} was expected (deleted, inserted or reordered entry)` };
    if (prev !== undefined && entry.prev !== prev) return { ok: false, count, line, reason: 'prev does not match the previous entry hash (deleted, inserted or reordered entry)' };
    if (prev === undefined && entry.seq === 1 && entry.prev !== GENESIS) return { ok: false, count, line, reason: 'the first entry does not start the chain' };
    if (entryHash(entry) !== entry.hash) return { ok: false, count, line, reason: 'hash mismatch (edited entry)' };
    const checkpoint = isCheckpoint(entry);
    if (checkpoint) {
      const check = checkCheckpoint(entry, options.publicKey);
      if (!check.ok) return { ok: false, count, line, reason: check.reason };
      checkpoints++;
      if (check.verified) verified++;
    }
    prev = entry.hash;
    expectedSeq = entry.seq + 1;
    count++;
    afterLastCheckpoint = checkpoint ? 0 : afterLastCheckpoint + 1;
  }
  return { ok: true, count, head: prev ?? GENESIS, checkpoints, verified, afterLastCheckpoint };
}
