/**
 * COSE_Sign1 (RFC 9052 §4.2) decoding and the Sig_structure (§4.4) for the
 * Nitro profile: ES384 only, detached payloads and counter-signatures not
 * supported. CBOR goes through cborg in strict mode (canonical integers and
 * lengths, no indefinite lengths, no undefined, no duplicate map keys).
 */
import { decode, encode } from 'cborg';
import type { DecodeOptions } from 'cborg';
import { fail } from '../errors.js';

/** RFC 9052 §4.2: the CBOR tag of COSE_Sign1 (one byte 0xd2 when encoded). */
const COSE_SIGN1_TAG_BYTE = 0xd2;
/** RFC 9053 §2.1: ES384 = ECDSA with SHA-384 (on P-384 in Nitro). */
export const COSE_ALG_ES384 = -35;
/** RFC 9052 §3.1: header label of alg. */
const HEADER_ALG = 1;

export const STRICT_CBOR: DecodeOptions = {
  strict: true,
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
};

export interface CoseSign1 {
  /** The serialized protected header, exactly as signed. */
  readonly protectedBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** Decodes CBOR with the strict options; any decoder error becomes `code`. */
export function decodeStrict(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes, STRICT_CBOR) as unknown;
  } catch (e) {
    return fail('KH_ATTESTATION_MALFORMED', `${what}: CBOR decoding failed`, e);
  }
}

/**
 * Decodes a COSE_Sign1 [protected, unprotected, payload, signature], tagged 18
 * or untagged (Nitro documents are untagged), and checks that alg is ES384.
 * @throws AttestationError KH_ATTESTATION_MALFORMED, KH_ATTESTATION_ALG_UNSUPPORTED
 */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  // Only the outermost tag 18 is accepted; cborg rejects any other tag.
  const body = bytes[0] === COSE_SIGN1_TAG_BYTE ? bytes.subarray(1) : bytes;
  const msg = decodeStrict(body, 'COSE_Sign1');
  if (!Array.isArray(msg) || msg.length !== 4) fail('KH_ATTESTATION_MALFORMED', 'COSE_Sign1 is not a 4-element array');
  const [protectedBytes, unprotected, payload, signature] = msg as unknown[];
  if (!(protectedBytes instanceof Uint8Array)) fail('KH_ATTESTATION_MALFORMED', 'protected header is not a bstr');
  if (!(unprotected instanceof Map)) fail('KH_ATTESTATION_MALFORMED', 'unprotected header is not a map');
  if (!(payload instanceof Uint8Array)) fail('KH_ATTESTATION_MALFORMED', 'payload is not a bstr (detached payloads are not supported)');
  if (!(signature instanceof Uint8Array)) fail('KH_ATTESTATION_MALFORMED', 'signature is not a bstr');

  const header = protectedBytes.length === 0 ? new Map() : decodeStrict(protectedBytes, 'protected header');
  if (!(header instanceof Map)) fail('KH_ATTESTATION_MALFORMED', 'protected header is not a map');
  const alg: unknown = header.get(HEADER_ALG);
  if (alg !== COSE_ALG_ES384) fail('KH_ATTESTATION_ALG_UNSUPPORTED', `protected alg is ${String(alg)}, not ES384 (-35)`);
  // RFC 9052 §3: a label must not appear in both buckets.
  if (unprotected.has(HEADER_ALG)) fail('KH_ATTESTATION_MALFORMED', 'alg also present in the unprotected header');
  return { protectedBytes, payload, signature };
}

/** RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload]. */
export function sigStructure(sign1: CoseSign1, externalAad: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encode(['Signature1', sign1.protectedBytes, externalAad, sign1.payload]);
}
