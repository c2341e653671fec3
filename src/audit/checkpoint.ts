/**
 * Signed checkpoints of the audit chain (issue 15, H2). A checkpoint is itself
 * an entry of the chain:
 *   { "type": "checkpoint", "covers": { "seq", "hash" }, "count", "every", "kid",
 *     ["genesis": { "format", "previous" }], "signature", seq, time, prev, hash, mac }
 * - covers: the entry just before it, so covers.seq = seq - 1 and covers.hash = prev
 *   (the genesis checkpoint, always seq 1, covers { seq: 0, hash: 64 zeros });
 * - count: entries since the previous checkpoint (0 for the genesis);
 * - every: the cadence this node promises: the next checkpoint comes after at
 *   most `every` entries. A verifier holding the public key refuses any longer
 *   run, so dropping a checkpoint (and re-chaining) cannot go unnoticed;
 * - genesis (first entry of every log file only): the format, and `previous`:
 *   null, or the file this node set aside because it did not verify, its last
 *   checkpoint, the reason and the head the node had recorded for it
 *   (file-device.ts, audit-head.ts);
 * - kid: base64url(SHA-256(SPKI DER)) of the node's audit-signing key;
 * - signature: Ed25519 (RFC 8032) over
 *     "keyhold-audit-checkpoint-v2" 0x00 || canonical JSON of every checkpoint
 *     field except signature (type, covers, count, every, kid, genesis),
 *   base64url. The prefix keeps these signatures apart from anything else the
 *   key could ever sign. seq and prev are signed through covers; the
 *   checkpoint's time is committed by the next checkpoint's covers.hash.
 *
 * covers.hash commits to every entry before it, and signing it needs the node
 * key, which lives behind the barrier: a recomputed chain fails at the first
 * checkpoint after the edit when the verifier pins the public key, and the
 * signed cadence bounds the unsigned tail to `every` entries. That tail is
 * protected by the per-entry chain MAC (audit-chain.ts) against everyone
 * without a barrier key, which the node checks before it extends a log.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { toBase64Url, utf8 } from '../crypto/bytes.js';
import { ed25519, loadSpkiOfType } from '../crypto/signature/ed25519.js';
import { canonicalJson, type AuditFields, type AuditValue } from './canonical-json.js';

const DOMAIN = 'keyhold-audit-checkpoint-v2\0';
/** The log format a genesis checkpoint names. */
export const AUDIT_FORMAT = 'keyhold-audit-v2';
/** Ed25519 ignores sign/verify options (it hashes internally); the scheme contract still asks for them. */
export const ED25519_OPTIONS = { hash: 'sha256', prehashed: false, rsaPadding: 'pss', ecdsaFormat: 'der' } as const;

/** The public half an operator pins to check checkpoints offline. */
export interface CheckpointVerifier {
  readonly kid: string;
  readonly key: KeyObject;
}

/** The node's audit keys for the current unsealed period. */
export interface CheckpointKey {
  readonly kid: string;
  /** The public half, so the node can check the checkpoints it finds at open. */
  readonly verifier: CheckpointVerifier;
  /** Ed25519 signature of `message`, or undefined once the vault sealed (the key is wiped). */
  sign(message: Uint8Array): Uint8Array | undefined;
  /** A fresh copy of the chain-MAC key (the caller wipes it), or undefined once sealed. */
  chainKey(): Uint8Array | undefined;
}

/** Where a device gets its keys: undefined while sealed. */
export interface CheckpointSigner {
  current(): Promise<CheckpointKey | undefined>;
}

/** What a new segment's genesis says about the file it replaced. */
export interface PreviousSegment {
  /** File name (no directory) the unverifiable log was renamed to. */
  file: string;
  /** Its last checkpoint, and whether its signature verified. */
  lastCheckpoint: { seq: number; hash: string; verified: boolean } | null;
  code: string;
  reason: string;
  /**
   * The head the node had recorded behind the barrier (audit-head.ts) when it
   * started this log, if any: the checkpoint the old file should have reached.
   */
  expectedHead?: { segment: string; seq: number; hash: string };
}

/** Key id of a public key: base64url(SHA-256(SPKI DER)), as published by GET /v1/sys/audit/public-key. */
export function kidOf(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('base64url');
}

/** The signed part of a checkpoint entry: everything but the chain fields and the signature. */
function signedPart(entry: Readonly<Record<string, unknown>>): AuditFields {
  const { seq: _s, time: _t, prev: _p, hash: _h, mac: _m, signature: _sig, ...rest } = entry;
  return rest as AuditFields;
}

/** The bytes a checkpoint signs. */
export function checkpointMessage(fields: Readonly<Record<string, unknown>>): Uint8Array {
  return utf8(DOMAIN + canonicalJson(signedPart(fields)));
}

/** The fields of a checkpoint entry covering `covers`, or undefined when the key is no longer usable. */
export function checkpointFields(
  key: CheckpointKey,
  covers: { seq: number; hash: string },
  count: number,
  every: number,
  genesis?: { previous: PreviousSegment | null },
): AuditFields | undefined {
  const fields: AuditFields = { type: 'checkpoint', covers: { seq: covers.seq, hash: covers.hash }, count, every, kid: key.kid };
  if (genesis !== undefined) fields.genesis = { format: AUDIT_FORMAT, previous: genesis.previous as AuditValue };
  const signature = key.sign(checkpointMessage(fields));
  if (signature === undefined) return undefined;
  return { ...fields, signature: toBase64Url(signature) };
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
): { ok: true; verified: boolean; every: number; count: number; genesis: boolean } | { ok: false; reason: string } {
  const { covers, count, every, kid, signature, genesis } = entry;
  if (
    !isRecord(covers) ||
    typeof covers.seq !== 'number' ||
    typeof covers.hash !== 'string' ||
    !Number.isSafeInteger(count) ||
    (count as number) < 0 ||
    !Number.isSafeInteger(every) ||
    (every as number) < 1 ||
    typeof kid !== 'string' ||
    typeof signature !== 'string' ||
    (genesis !== undefined && !isRecord(genesis))
  )
    return { ok: false, reason: 'malformed checkpoint (needs covers.seq, covers.hash, count, every, kid, signature)' };
  if (covers.seq !== entry.seq - 1 || covers.hash !== entry.prev) return { ok: false, reason: 'checkpoint does not cover the entry just before it' };
  const shape = { every: every as number, count: count as number, genesis: genesis !== undefined };
  if (verifier === undefined) return { ok: true, verified: false, ...shape };
  if (kid !== verifier.kid) return { ok: false, reason: `checkpoint signed by another key (kid ${kid}, pinned ${verifier.kid})` };
  const sig = Buffer.from(signature, 'base64url');
  if (!ed25519.verify(verifier.key, checkpointMessage(entry), sig, ED25519_OPTIONS))
    return { ok: false, reason: 'checkpoint signature does not verify (forged checkpoint or rewritten entries before it)' };
  return { ok: true, verified: true, ...shape };
}
