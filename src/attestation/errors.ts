/**
 * Sentinel errors of the attestation layer. Each failure class carries a stable
 * `code`; the message is fixed per code so callers learn nothing beyond the
 * class of failure, and the detail goes to `cause` (for logs, never callers).
 * The codes are registered in src/errors.ts (status 400), so an
 * AttestationError is a KeyholdError and reaches callers as the usual error body.
 */
import { KeyholdError } from '../errors.js';

export const ATTESTATION_ERROR_CODES = {
  /** Bytes are not a CBOR COSE_Sign1 (tag 18 or untagged) with a decodable payload, or exceed the size limit. */
  KH_ATTESTATION_MALFORMED: 'The attestation document is not a well-formed COSE_Sign1.',
  /** Protected header alg is not ES384 (-35), or the leaf key is not P-384. */
  KH_ATTESTATION_ALG_UNSUPPORTED: 'The attestation document uses an unsupported algorithm.',
  /** The COSE signature does not verify under the leaf certificate's key. */
  KH_ATTESTATION_SIGNATURE_INVALID: 'The attestation document signature does not verify.',
  /** The certificate chain is broken, not a CA chain, or does not end at a trusted root. */
  KH_ATTESTATION_CHAIN_INVALID: 'The attestation certificate chain does not lead to a trusted root.',
  /** A certificate of the chain is not valid at the document's timestamp (or at the verifier's clock). */
  KH_ATTESTATION_CERT_EXPIRED: 'An attestation certificate is expired or not yet valid.',
  /** A mandatory payload field is missing, or a field has the wrong type, size or value. */
  KH_ATTESTATION_FIELD_INVALID: 'The attestation document has a missing or invalid field.',
  /** An expected PCR is absent or differs. */
  KH_ATTESTATION_PCR_MISMATCH: 'The attestation document PCRs do not match the expected values.',
  /** The document's nonce is absent or differs from the verifier's. */
  KH_ATTESTATION_NONCE_MISMATCH: 'The attestation document nonce does not match.',
  /** The document is older than maxAgeMs (or too far in the future) relative to the verifier's clock. */
  KH_ATTESTATION_STALE: 'The attestation document is too old.',
  /** The provider (NSM device, simulated enclave) failed to produce a document. */
  KH_ATTESTATION_PROVIDER_FAILED: 'The attestation provider could not produce a document.',
} as const;

export type AttestationErrorCode = keyof typeof ATTESTATION_ERROR_CODES;

export class AttestationError extends KeyholdError {
  declare readonly code: AttestationErrorCode;

  constructor(code: AttestationErrorCode, options?: { cause?: unknown }) {
    super(code, ATTESTATION_ERROR_CODES[code], options);
    this.name = 'AttestationError';
  }
}

/** Throws an AttestationError with the detail in `cause`. */
export function fail(code: AttestationErrorCode, detail: string, cause?: unknown): never {
  throw new AttestationError(code, { cause: cause === undefined ? new Error(detail) : new Error(detail, { cause }) });
}
