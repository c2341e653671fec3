/**
 * Where attestation documents come from. A provider produces documents in the
 * AWS Nitro format (docs/protocols.md §2) about the environment this process runs
 * in: `simulated` signs them under a locally created root (dev and tests),
 * `nsm` asks the Nitro Security Module of a real enclave.
 */
export type AttestationProviderKind = 'simulated' | 'nsm';

/** What the caller wants bound into the document; each at most 1024 bytes (AWS limit). */
export interface AttestationRequest {
  readonly publicKey?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
}

export interface AttestationProvider {
  readonly kind: AttestationProviderKind;
  /** A fresh COSE_Sign1 attestation document (CBOR, untagged as Nitro emits them). */
  attest(request: AttestationRequest): Promise<Uint8Array>;
  /** The PCR values this environment reports (index -> bytes). */
  pcrs(): Promise<ReadonlyMap<number, Uint8Array>>;
  /** Releases what the provider holds open (device handles, keys in memory). */
  close(): Promise<void>;
}

/** AWS limit on public_key, user_data and nonce in a request. */
export const MAX_ATTESTATION_FIELD_BYTES = 1024;
