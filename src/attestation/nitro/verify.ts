/**
 * Verifier for AWS Nitro Enclaves attestation documents (docs/protocols.md §2; AWS
 * "Verifying the root of trust"): COSE_Sign1 with ES384 over the Nitro payload,
 * signed by the leaf certificate, chained through cabundle to a trusted root
 * (by default only the pinned AWS Nitro Enclaves Root G1).
 *
 * Order of checks: structure, alg, payload fields, chain (links, then
 * validity times), signature, then the caller's policy (PCRs, nonce, age). The
 * chain comes before the signature so that the key the signature is checked
 * with is already known to be trusted.
 */
import { timingSafeEqual, verify as verifySignature } from 'node:crypto';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { AWS_NITRO_ROOT_G1 } from './aws-root.js';
import { decodeCoseSign1, sigStructure } from './cose-sign1.js';
import { parsePayload } from './document.js';
import { verifyChain } from './chain.js';
import { fail } from '../errors.js';

/** Real documents are ~7.5 KB; the largest legal one (3 x 1 KiB fields, 32 PCRs of 64 bytes, a few certs) is well below. */
export const MAX_DOCUMENT_BYTES = 32 * 1024;
/** ES384 signature in COSE: r || s, 48 bytes each (RFC 9053 §2.1). */
const ES384_SIGNATURE_BYTES = 96;
/** With maxAgeMs, a timestamp this far ahead of the verifier's clock is still accepted (clock skew). */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

export interface VerifyNitroOptions {
  /**
   * The verifier's clock. When given, every certificate must be valid both at
   * the document's timestamp and at `now`; without it only the document's
   * timestamp is checked. Also the reference for `maxAgeMs` (default: the
   * system clock).
   */
  readonly now?: Date;
  /** PCR index -> expected value in hex; each listed PCR must be present and equal. */
  readonly expectedPcrs?: Readonly<Record<number, string>>;
  /** The nonce the verifier sent; the document must carry exactly this nonce. */
  readonly nonce?: Uint8Array;
  /** Maximum age of the document's timestamp relative to `now`. */
  readonly maxAgeMs?: number;
  /** Trust anchors; default: the AWS Nitro Enclaves Root G1 only. */
  readonly trustedRoots?: readonly X509Certificate[];
}

export interface NitroAttestation {
  readonly moduleId: string;
  /** Milliseconds since the Unix epoch, as in the document. */
  readonly timestamp: number;
  readonly digest: 'SHA384';
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly publicKey?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
  /** The leaf (enclave) certificate that signed the document. */
  readonly certificate: X509Certificate;
}

function checkOptions(options: VerifyNitroOptions): Map<number, Uint8Array> {
  if (options.now !== undefined && (!(options.now instanceof Date) || Number.isNaN(options.now.getTime()))) {
    throw new TypeError('now must be a valid Date');
  }
  if (options.nonce !== undefined && !(options.nonce instanceof Uint8Array)) throw new TypeError('nonce must be a Uint8Array');
  if (options.maxAgeMs !== undefined && !(Number.isFinite(options.maxAgeMs) && options.maxAgeMs >= 0)) {
    throw new TypeError('maxAgeMs must be a non-negative finite number');
  }
  if (options.trustedRoots !== undefined && (!Array.isArray(options.trustedRoots) || options.trustedRoots.length === 0)) {
    throw new TypeError('trustedRoots must be a non-empty array');
  }
  const expected = new Map<number, Uint8Array>();
  for (const [key, hex] of Object.entries(options.expectedPcrs ?? {})) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index > 31) throw new TypeError(`expectedPcrs: ${key} is not a PCR index 0..31`);
    if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new TypeError(`expectedPcrs[${key}] is not hex`);
    expected.set(index, Buffer.from(hex, 'hex'));
  }
  return expected;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verifies an AWS Nitro attestation document and returns its contents.
 * @param bytes the document: CBOR COSE_Sign1, tagged (18) or untagged
 * @throws AttestationError with a distinct `code` per failure class:
 *   KH_ATTESTATION_MALFORMED, KH_ATTESTATION_ALG_UNSUPPORTED,
 *   KH_ATTESTATION_FIELD_INVALID, KH_ATTESTATION_CHAIN_INVALID,
 *   KH_ATTESTATION_CERT_EXPIRED, KH_ATTESTATION_SIGNATURE_INVALID,
 *   KH_ATTESTATION_PCR_MISMATCH, KH_ATTESTATION_NONCE_MISMATCH,
 *   KH_ATTESTATION_STALE
 * @throws TypeError when the arguments are misused
 */
export function verifyNitroDocument(bytes: Uint8Array, options: VerifyNitroOptions = {}): NitroAttestation {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('the document must be a Uint8Array');
  const expectedPcrs = checkOptions(options);
  if (bytes.length === 0 || bytes.length > MAX_DOCUMENT_BYTES) fail('KH_ATTESTATION_MALFORMED', `document size ${bytes.length} outside 1..${MAX_DOCUMENT_BYTES}`);

  const sign1 = decodeCoseSign1(bytes);
  const doc = parsePayload(sign1.payload);

  const instants = options.now === undefined ? [doc.timestamp] : [doc.timestamp, options.now.getTime()];
  verifyChain(doc.certificate, doc.cabundle, options.trustedRoots ?? [AWS_NITRO_ROOT_G1], instants);

  let key: KeyObject;
  try {
    key = doc.certificate.publicKey;
  } catch (e) {
    return fail('KH_ATTESTATION_FIELD_INVALID', 'leaf public key does not parse', e);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    fail('KH_ATTESTATION_ALG_UNSUPPORTED', 'leaf key is not P-384');
  }

  if (sign1.signature.length !== ES384_SIGNATURE_BYTES) fail('KH_ATTESTATION_SIGNATURE_INVALID', 'signature is not 96 bytes');
  let valid = false;
  try {
    valid = verifySignature('sha384', sigStructure(sign1), { key, dsaEncoding: 'ieee-p1363' }, sign1.signature);
  } catch (e) {
    fail('KH_ATTESTATION_SIGNATURE_INVALID', 'signature verification errored', e);
  }
  if (!valid) fail('KH_ATTESTATION_SIGNATURE_INVALID', 'signature does not verify');

  for (const [index, value] of expectedPcrs) {
    const actual = doc.pcrs.get(index);
    if (actual === undefined || !sameBytes(actual, value)) fail('KH_ATTESTATION_PCR_MISMATCH', `PCR${index} differs`);
  }
  if (options.nonce !== undefined && (doc.nonce === undefined || !sameBytes(doc.nonce, options.nonce))) {
    fail('KH_ATTESTATION_NONCE_MISMATCH', 'nonce differs');
  }
  if (options.maxAgeMs !== undefined) {
    const age = (options.now ?? new Date()).getTime() - doc.timestamp;
    if (age > options.maxAgeMs) fail('KH_ATTESTATION_STALE', `document is ${age} ms old`);
    if (age < -MAX_FUTURE_SKEW_MS) fail('KH_ATTESTATION_STALE', 'document timestamp is in the future');
  }

  return {
    moduleId: doc.moduleId,
    timestamp: doc.timestamp,
    digest: doc.digest,
    pcrs: doc.pcrs,
    certificate: doc.certificate,
    ...(doc.publicKey !== undefined && { publicKey: doc.publicKey }),
    ...(doc.userData !== undefined && { userData: doc.userData }),
    ...(doc.nonce !== undefined && { nonce: doc.nonce }),
  };
}
