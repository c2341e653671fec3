/**
 * The recipient of released material: an attestation document is verified
 * (signature, chain to a trusted root, age, not from the future) and checked
 * against the key's release policy. The API then encrypts the material to
 * the document's public_key (api/v1/recipient-fields.ts).
 */
import type { X509Certificate } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { verifyNitroDocument, type NitroAttestation } from '../../attestation/nitro/verify.js';
import { AttestationError } from '../../attestation/errors.js';
import { checkRelease, DEFAULT_MAX_AGE_SECONDS, type ReleasePolicy } from './release-policy.js';

export class RecipientVerifier {
  readonly #roots: readonly X509Certificate[];
  readonly #now: () => number;

  /** @param trustedRoots the AWS Nitro root, plus configured (simulated) roots */
  constructor(trustedRoots: readonly X509Certificate[], now: () => number = Date.now) {
    this.#roots = trustedRoots;
    this.#now = now;
  }

  /**
   * Verifies the document and the policy.
   * @throws AttestationError (400) for a document that does not verify; KeyholdError KH_RELEASE_* (403) for a policy mismatch
   */
  verify(document: Uint8Array, policy: ReleasePolicy | undefined): NitroAttestation {
    const now = this.#now();
    let attestation: NitroAttestation;
    try {
      attestation = verifyNitroDocument(document, { trustedRoots: this.#roots, now: new Date(now), maxAgeMs: (policy?.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000 });
    } catch (e) {
      if (e instanceof AttestationError && e.code === 'KH_ATTESTATION_STALE') throw new KeyholdError('KH_RELEASE_STALE', undefined, { cause: e });
      throw e;
    }
    checkRelease(policy, attestation, now);
    return attestation;
  }
}
