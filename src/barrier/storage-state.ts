/**
 * The storage state: what the keyring record (under the root key) says the
 * rest of storage must look like, so that a rollback, deletion or
 * resurrection of any record is detected (issue 15, H3).
 *
 * - `generation` grows by one with every committed write transaction; each
 *   barrier record carries, authenticated in its AAD, the generation it was
 *   written at.
 * - `digest` is a keyed set hash over every live record: the XOR of
 *   HMAC-SHA-256(digest key, path 0x00 generation) over all (path,
 *   generation) pairs. XOR makes it incremental (a write removes the old
 *   pair and adds the new one in O(1)); the key (derived from the keyring's
 *   index key) means nobody outside the barrier can compute a pair's term,
 *   so a set with one record dropped, added back or replaced by an older
 *   copy cannot be made to match (each path appears at most once, so XOR
 *   never cancels two live entries).
 * - `anchors`: a bit per external anchor (anchorBit) that has once held this
 *   vault's generation; a missing anchor is then an error, not a first use.
 * - `policy`: the policy layer's rollback floor and the hash and version of
 *   the bundle it activated, so they cannot be rolled back or deleted with
 *   the rows that hold the bundle. Undefined for a store written before this
 *   state existed (the policy engine migrates it once).
 *
 * - `sealed`: a keyed hash over the records that must be readable while
 *   sealed (seal configuration, wrapped root key, recovery records: issue 15,
 *   review 9), checked at unseal and before shares are accepted for rekey or
 *   generate-root. Undefined until the first unseal records it.
 *
 * Layout: version(1)=2 | generation(u64) | digest(32) | anchors(1) |
 *   policy flag(1) | highest(f64) | active version(f64, 0 = none) | active sha256(32) |
 *   sealed flag(1) | sealed hash(32). Version 1 lacks the last two fields.
 */
import { createHash } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hmac.js';

const FORMAT_VERSION_V1 = 1;
const FORMAT_VERSION = 2;
export const DIGEST_BYTES = 32;
const STATE_BYTES_V1 = 1 + 8 + DIGEST_BYTES + 1 + 1 + 8 + 8 + 32;
const STATE_BYTES = STATE_BYTES_V1 + 1 + DIGEST_BYTES;

export interface PolicyState {
  /** The highest bundle version ever accepted: a push must exceed it. */
  readonly highest: number;
  /** The bundle the engine activated, by version and SHA-256 (hex); undefined while the built-in bundle applies. */
  readonly active?: { readonly version: number; readonly sha256: string };
}

export interface StorageState {
  readonly generation: number;
  readonly digest: Uint8Array;
  readonly anchors: number;
  readonly policy: PolicyState | undefined;
  /** Keyed hash over the sealed-readable records; undefined until first recorded. */
  readonly sealed?: Uint8Array | undefined;
}

export const EMPTY_POLICY_STATE: PolicyState = Object.freeze({ highest: 0 });

export function initialState(): StorageState {
  return { generation: 0, digest: new Uint8Array(DIGEST_BYTES), anchors: 0, policy: EMPTY_POLICY_STATE };
}

function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / 2 ** 32));
  view.setUint32(at + 4, n >>> 0);
}

export function getU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

export function encodeState(s: StorageState): Uint8Array {
  const out = new Uint8Array(STATE_BYTES);
  const view = new DataView(out.buffer);
  out[0] = FORMAT_VERSION;
  setU64(view, 1, s.generation);
  out.set(s.digest, 9);
  out[41] = s.anchors;
  out[42] = s.policy === undefined ? 0 : 1;
  view.setFloat64(43, s.policy?.highest ?? 0);
  view.setFloat64(51, s.policy?.active?.version ?? 0);
  if (s.policy?.active !== undefined) out.set(Buffer.from(s.policy.active.sha256, 'hex'), 59);
  if (s.sealed !== undefined) {
    out[STATE_BYTES_V1] = 1;
    out.set(s.sealed, STATE_BYTES_V1 + 1);
  }
  return out;
}

/** @throws KeyholdError KH_STORAGE_INTEGRITY when the bytes are not a storage state (they authenticated, so this is a bug or a downgrade). */
export function decodeState(bytes: Uint8Array): StorageState {
  const v2 = bytes.length === STATE_BYTES && bytes[0] === FORMAT_VERSION;
  if (!v2 && (bytes.length !== STATE_BYTES_V1 || bytes[0] !== FORMAT_VERSION_V1)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is malformed');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const activeVersion = view.getFloat64(51);
  const policy: PolicyState | undefined =
    bytes[42] === 0
      ? undefined
      : {
          highest: view.getFloat64(43),
          ...(activeVersion > 0 ? { active: { version: activeVersion, sha256: Buffer.from(bytes.subarray(59, 91)).toString('hex') } } : {}),
        };
  const sealed = v2 && bytes[STATE_BYTES_V1] === 1 ? bytes.slice(STATE_BYTES_V1 + 1) : undefined;
  return { generation: getU64(view, 1), digest: bytes.slice(9, 41), anchors: bytes[41]!, policy, sealed };
}

/** The key of the set hash, derived from the keyring's index key (never stored). */
export function digestKeyOf(indexKey: Uint8Array): Uint8Array {
  return hmacSha256(indexKey, 'keyhold-storage-digest-v1');
}

/**
 * The keyed hash over the sealed-readable records: HMAC(key, for each path in
 * order: path 0x00 present(1) SHA-256(value)). An absent record counts, so
 * deleting one (or bringing back a deleted recovery record) changes it.
 */
export function sealedRecordsHash(indexKey: Uint8Array, records: readonly (readonly [string, Uint8Array | undefined])[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [path, value] of records)
    parts.push(utf8(path), new Uint8Array([0, value === undefined ? 0 : 1]), value === undefined ? new Uint8Array(32) : new Uint8Array(createHash('sha256').update(value).digest()));
  return hmacSha256(hmacSha256(indexKey, 'keyhold-sealed-records-v1'), concatBytes(...parts));
}

/** The set-hash term of one record: HMAC(digest key, path 0x00 generation(u64)). */
export function recordTerm(digestKey: Uint8Array, path: string, generation: number): Uint8Array {
  const g = new Uint8Array(8);
  setU64(new DataView(g.buffer), 0, generation);
  return hmacSha256(digestKey, concatBytes(utf8(path), new Uint8Array([0]), g));
}

/** XORs `term` into `digest` in place (adds a pair to the set, or removes it). */
export function xorInto(digest: Uint8Array, term: Uint8Array): void {
  for (let i = 0; i < DIGEST_BYTES; i++) digest[i]! ^= term[i]!;
}

export function writeU64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  setU64(new DataView(out.buffer), 0, n);
  return out;
}
