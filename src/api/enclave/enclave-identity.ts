/**
 * What this node proves about itself (docs/protocols.md §2): attestation documents
 * from the configured provider with `public_key` = the current channel key and
 * `user_data` = SHA-256 of the DER of the TLS certificate served on the API
 * port. The document for GET /v1/enclave (no nonce) is cached per channel key
 * and refreshed before it gets old; documents with a caller's nonce are made
 * fresh each time.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { AttestationProvider } from '../../attestation/provider.js';
import type { ChannelKey } from './channel-keys.js';

/** A cached document older than this is replaced, so verifiers with a max-age policy accept it. */
const CACHED_DOCUMENT_MAX_AGE_MS = 5 * 60 * 1000;

export class EnclaveIdentity {
  readonly provider: AttestationProvider;
  readonly #userData: Uint8Array | undefined;
  #cached: { keyId: string; at: number; document: Promise<Uint8Array> } | undefined;

  /** @param tlsCertificatePem the chain served on the API port (its first certificate is bound), if TLS is on */
  constructor(provider: AttestationProvider, tlsCertificatePem: string | Buffer | undefined) {
    this.provider = provider;
    this.#userData = tlsCertificatePem === undefined ? undefined : new Uint8Array(createHash('sha256').update(new X509Certificate(tlsCertificatePem).raw).digest());
  }

  /** SHA-256 of the TLS certificate's DER, as bound in user_data. */
  get tlsCertificateHash(): Uint8Array | undefined {
    return this.#userData;
  }

  attest(channelKey: ChannelKey, nonce?: Uint8Array): Promise<Uint8Array> {
    return this.provider.attest({
      publicKey: channelKey.pair.publicKey,
      ...(this.#userData !== undefined && { userData: this.#userData }),
      ...(nonce !== undefined && { nonce }),
    });
  }

  /** The nonce-less document for the channel key, cached. */
  channelDocument(channelKey: ChannelKey): Promise<Uint8Array> {
    const now = Date.now();
    const cached = this.#cached;
    if (cached !== undefined && cached.keyId === channelKey.keyId && now - cached.at < CACHED_DOCUMENT_MAX_AGE_MS) return cached.document;
    const document = this.attest(channelKey);
    this.#cached = { keyId: channelKey.keyId, at: now, document };
    // A failed attempt is not cached: the next request tries again.
    document.catch(() => {
      if (this.#cached?.document === document) this.#cached = undefined;
    });
    return document;
  }
}
