/**
 * Signed checkpoints of the audit chain (issue "audit": signed checkpoints
 * every N entries). A checkpoint is itself an entry of the chain:
 *   { "type": "checkpoint", "covers": { "seq", "hash" }, "count", "kid", "signature", seq, time, prev, hash }
 * - covers: the entry just before it, so covers.seq = seq - 1 and covers.hash = prev;
 * - count: entries since the previous checkpoint the writer knew of (see file-device.ts);
 * - kid: base64url(SHA-256(SPKI DER)) of the node's audit-signing key;
 * - signature: Ed25519 (RFC 8032) over
 *     "keyhold-audit-checkpoint-v1" 0x00 || canonical JSON of { seq, hash, kid } (of covers),
 *   base64url. The prefix keeps these signatures apart from anything else the
 *   key could ever sign, and from the chain's own "keyhold-audit-v1" hashes.
 *
 * Why: anyone who can write the file can edit an entry and recompute every
 * later hash, so the chain alone only shows accidents and careless edits.
 * covers.hash commits to every entry before it, and signing it needs the node
 * key, which lives behind the barrier: a recomputed chain fails at the first
 * checkpoint after the edit when the verifier pins the public key. The
 * checkpoint's own count and time are committed by the next checkpoint.
 * Limit: entries after the last checkpoint are covered only by the chain, so
 * rewriting or cutting the tail after it cannot be detected from the file.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { toBase64Url, utf8 } from '../crypto/bytes.js';
import { ed25519, loadSpkiOfType } from '../crypto/signature/ed25519.js';
import { canonicalJson, type AuditFields } from './canonical-json.js';

const DOMAIN = 'keyhold-audit-checkpoint-v1\0';
/** Ed25519 ignores sign/verify options (it hashes internally); the scheme contract still asks for them. */
export const ED25519_OPTIONS = { hash: 'sha256', prehashed: false, rsaPadding: 'pss', ecdsaFormat: 'der' } as const;

/** A signing key available for the current unsealed period. */
export interface CheckpointKey {
  readonly kid: string;
  /** Ed25519 signature of `message`, or undefined once the vault sealed (the key is wiped). */
  sign(message: Uint8Array): Uint8Array | undefined;
}

/** Where a device gets its checkpoint key: undefined while sealed, and checkpoints wait. */
export interface CheckpointSigner {
  current(): Promise<CheckpointKey | undefined>;
}

/** The public half an operator pins to check checkpoints offline. */
export interface CheckpointVerifier {
  readonly kid: string;
  readonly key: KeyObject;
}

/** Key id of a public key: base64url(SHA-256(SPKI DER)), as published by GET /v1/sys/audit/public-key. */
export function kidOf(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('base64url');
}

/** The bytes a checkpoint signs. */
export function checkpointMessage(covers: { seq: number; hash: string }, kid: string): Uint8Array {
  return utf8(DOMAIN + canonicalJson({ seq: covers.seq, hash: covers.hash, kid }));
}

/** The fields of a checkpoint entry covering `covers`, or undefined when the key is no longer usable. */
export function checkpointFields(key: CheckpointKey, covers: { seq: number; hash: string }, count: number): AuditFields | undefined {
  const signature = key.sign(checkpointMessage(covers, key.kid));
  if (signature === undefined) return undefined;
  return { type: 'checkpoint', covers: { seq: covers.seq, hash: covers.hash }, count, kid: key.kid, signature: toBase64Url(signature) };
}

/**
 * A verifier from a PEM (SPKI) public key.
 * @throws KeyholdError KH_INPUT_INVALID when it is not an Ed25519 key; TypeError/Error when it does not parse.
 */
export function checkpointVerifier(pem: string): CheckpointVerifier {
  const spki = new Uint8Array(createPublicKey(pem).export({ format: 'der', type: 'spki' }));
  return { kid: kidOf(spki), key: loadSpkiOfType(spki, 'ed25519') };
}

export function isCheckpoint(entry: Readonly<Record<string, unknown>>): boolean {
  return entry.type === 'checkpoint';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks one checkpoint entry whose chain links were already checked: its
 * shape, that it covers the entry just before it, and, given the pinned key,
 * its kid and signature. Without a key, `verified` is false.
 */
export function checkCheckpoint(
  entry: { seq: number; prev: string } & Record<string, unknown>,
  verifier?: CheckpointVerifier,
): { ok: true; verified: boolean } | { ok: false; reason: string } {
  const { covers, count, kid, signature } = entry;
  if (!isRecord(covers) || typeof covers.seq !== 'number' || typeof covers.hash !== 'string' || !Number.isSafeInteger(count) || typeof kid !== 'string' || typeof signature !== 'string')
    return { ok: false, reason: 'malformed checkpoint (needs covers.seq, covers.hash, count, kid, signature)' };
  if (covers.seq !== entry.seq - 1 || covers.hash !== entry.prev) return { ok: false, reason: 'checkpoint does not cover the entry just before it' };
  if (verifier === undefined) return { ok: true, verified: false };
  if (kid !== verifier.kid) return { ok: false, reason: `checkpoint signed by another key (kid ${kid}, pinned ${verifier.kid})` };
  const sig = Buffer.from(signature, 'base64url');
  if (!ed25519.verify(verifier.key, checkpointMessage({ seq: covers.seq, hash: covers.hash }, kid), sig, ED25519_OPTIONS))
    return { ok: false, reason: 'checkpoint signature does not verify (forged checkpoint or rewritten entries before it)' };
  return { ok: true, verified: true };
}
