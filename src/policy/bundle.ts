/**
 * Signed policy bundles (docs/protocols.md §6): parsing and signature checks.
 *
 * A bundle is JSON `{ version, issuedAt, policies, entities, schema? }`; its
 * signature is a compact JWS with detached payload (RFC 7515 appendix F:
 * `header..signature`), alg EdDSA, over the exact bundle bytes; `kid` in the
 * protected header selects a key from the configuration (trusted-keys.ts).
 * The signature is checked before the bundle is parsed, so unsigned input
 * never reaches the JSON or Cedar parsers. Cedar validation is policy-set.ts.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { FlattenedSign, flattenedVerify } from 'jose';
import { KeyholdError } from '../errors.js';
import type { TrustedKeys } from './trusted-keys.js';

export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_SIGNATURE_CHARS = 4096;
export const MAX_ENTITIES = 10_000;
export const SIGNATURE_ALG = 'EdDSA';
/**
 * The largest step a push may take past the highest version accepted so far
 * (issue 15, review 14). Without it one push signed with a leaked key at
 * 2^53-1 could never be beaten by a later push, and storage rollback
 * detection forbids undoing it by editing the database.
 */
export const MAX_VERSION_STEP = 1_000_000;

/**
 * @throws KeyholdError KH_POLICY_VERSION_JUMP when `version` is more than MAX_VERSION_STEP past `highest`.
 */
export function checkVersionStep(version: number, highest: number): void {
  if (version - highest > MAX_VERSION_STEP)
    throw new KeyholdError('KH_POLICY_VERSION_JUMP', `The bundle's version ${version} is more than ${MAX_VERSION_STEP} past ${highest}, the highest accepted; the active bundle is unchanged.`);
}

export interface PolicyBundle {
  /** Increases with every bundle; a push must carry a greater version than the active one. */
  readonly version: number;
  /** RFC 3339 timestamp chosen by the signer (informational). */
  readonly issuedAt: string;
  /** Cedar policy text. */
  readonly policies: string;
  /** Cedar entity JSON (groups, group memberships). */
  readonly entities: readonly unknown[];
  /** Optional copy of the server's schema; if present it must equal it (policy-set.ts). */
  readonly schema?: unknown;
}

export interface VerifiedBundle {
  readonly bundle: PolicyBundle;
  readonly kid: string;
  /** Hex SHA-256 of the exact bundle bytes. */
  readonly sha256: string;
}

const COMPACT_DETACHED = /^([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)$/;
const HEADER_MEMBERS = new Set(['alg', 'kid', 'typ']);
const BUNDLE_MEMBERS = new Set(['version', 'issuedAt', 'policies', 'entities', 'schema']);
// RFC 3339 §5.6 date-time (T and Z may be lower case).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

export function bundleSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const signatureInvalid = (why: string, cause?: unknown) => new KeyholdError('KH_POLICY_SIGNATURE_INVALID', undefined, { cause: cause ?? new Error(why) });

/** The `kid` of a well-formed detached JWS header, or a KH_POLICY_SIGNATURE_INVALID error. */
function detachedHeader(signature: string): { header: string; signature: string; kid: string } {
  const text = signature.trim();
  if (text.length > MAX_SIGNATURE_CHARS) throw signatureInvalid('signature text too long');
  const m = COMPACT_DETACHED.exec(text);
  if (m === null) throw new KeyholdError('KH_POLICY_SIGNATURE_INVALID', 'The signature must be a compact JWS with detached payload: <header>..<signature>.');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
  } catch (e) {
    throw signatureInvalid('header is not JSON', e);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw signatureInvalid('header is not an object');
  const h = header as Record<string, unknown>;
  const extra = Object.keys(h).filter((k) => !HEADER_MEMBERS.has(k));
  if (extra.length > 0) throw new KeyholdError('KH_POLICY_SIGNATURE_INVALID', `The signature header may hold only alg, kid and typ (found ${extra.slice(0, 3).join(', ')}).`);
  if (h.alg !== SIGNATURE_ALG) throw new KeyholdError('KH_POLICY_SIGNATURE_INVALID', `The signature must use alg ${SIGNATURE_ALG}.`);
  if (typeof h.kid !== 'string' || h.kid.length === 0 || h.kid.length > 128) throw new KeyholdError('KH_POLICY_SIGNATURE_INVALID', 'The signature header must name the signing key (kid).');
  if (h.typ !== undefined && typeof h.typ !== 'string') throw signatureInvalid('typ is not a string');
  return { header: m[1]!, signature: m[2]!, kid: h.kid };
}

/**
 * Checks the detached JWS over the exact bundle bytes.
 * @throws KeyholdError KH_POLICY_KEY_UNKNOWN when kid is not configured, KH_POLICY_SIGNATURE_INVALID for anything else.
 */
export async function verifyBundleSignature(bytes: Uint8Array, signature: string, keys: TrustedKeys): Promise<{ kid: string }> {
  const jws = detachedHeader(signature);
  const key = keys.get(jws.kid);
  if (key === undefined) throw new KeyholdError('KH_POLICY_KEY_UNKNOWN', `The bundle is signed with kid ${JSON.stringify(jws.kid)}, which policy.trustedKeys does not hold; the active bundle is unchanged.`);
  try {
    // RFC 7515 appendix F: re-attach the payload (base64url of the bytes) to verify.
    await flattenedVerify({ protected: jws.header, payload: Buffer.from(bytes).toString('base64url'), signature: jws.signature }, key, { algorithms: [SIGNATURE_ALG] });
  } catch (e) {
    throw signatureInvalid('signature does not verify', e);
  }
  return { kid: jws.kid };
}

const malformed = (why: string) => new KeyholdError('KH_POLICY_BUNDLE_MALFORMED', `The policy bundle is malformed: ${why}.`);

/**
 * Parses bundle bytes (UTF-8 JSON, at most 1 MiB, no members beyond the five).
 * @throws KeyholdError KH_POLICY_BUNDLE_MALFORMED
 */
export function parseBundle(bytes: Uint8Array): PolicyBundle {
  if (bytes.length > MAX_BUNDLE_BYTES) throw malformed(`larger than ${MAX_BUNDLE_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformed('not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('not a JSON object');
  const o = value as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !BUNDLE_MEMBERS.has(k));
  if (extra.length > 0) throw malformed(`unknown member ${JSON.stringify(extra[0]!.slice(0, 64))}`);
  const { version, issuedAt, policies, entities, schema } = o;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw malformed('version must be an integer >= 1');
  if (typeof issuedAt !== 'string' || !RFC3339.test(issuedAt) || Number.isNaN(Date.parse(issuedAt))) throw malformed('issuedAt must be an RFC 3339 date-time');
  if (typeof policies !== 'string') throw malformed('policies must be a string of Cedar policy text');
  if (!Array.isArray(entities)) throw malformed('entities must be an array of Cedar entities');
  if (entities.length > MAX_ENTITIES) throw malformed(`more than ${MAX_ENTITIES} entities`);
  if (entities.some((e) => typeof e !== 'object' || e === null || Array.isArray(e))) throw malformed('every entity must be a JSON object');
  if (schema !== undefined && typeof schema !== 'string' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) throw malformed('schema must be Cedar schema text or JSON');
  return { version, issuedAt, policies, entities, ...(schema !== undefined ? { schema } : {}) };
}

/**
 * Size, signature, then shape: the checks that need no Cedar.
 * @throws KeyholdError KH_POLICY_BUNDLE_MALFORMED, KH_POLICY_KEY_UNKNOWN, KH_POLICY_SIGNATURE_INVALID
 */
export async function verifyBundle(bytes: Uint8Array, signature: string, keys: TrustedKeys): Promise<VerifiedBundle> {
  if (bytes.length > MAX_BUNDLE_BYTES) throw malformed(`larger than ${MAX_BUNDLE_BYTES} bytes`);
  const { kid } = await verifyBundleSignature(bytes, signature, keys);
  return { bundle: parseBundle(bytes), kid, sha256: bundleSha256(bytes) };
}

/**
 * Signs bundle bytes for `keyhold policy sign`: returns `header..signature`.
 * @throws TypeError when the key is not an Ed25519 private key (PKCS#8 PEM) or kid is empty.
 */
export async function signBundle(bytes: Uint8Array, privateKeyPem: string, kid: string): Promise<string> {
  if (kid.length === 0 || kid.length > 128) throw new TypeError('kid must be 1-128 characters');
  let key;
  try {
    key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  } catch {
    throw new TypeError('not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('the signing key must be Ed25519');
  const jws = await new FlattenedSign(bytes).setProtectedHeader({ alg: SIGNATURE_ALG, kid }).sign(key);
  return `${jws.protected}..${jws.signature}`;
}
