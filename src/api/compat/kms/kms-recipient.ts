/**
 * KMS's `Recipient` (Decrypt, GenerateDataKey, GenerateDataKeyPair,
 * GenerateRandom, DeriveSharedSecret): a Nitro attestation document whose RSA
 * public_key receives the result as CMS EnvelopedData (CiphertextForRecipient),
 * and the plaintext field is left out, as AWS does. The document is verified
 * and held against the key's release policy by the keys layer's
 * RecipientVerifier, the same check /v1's `recipient` makes; a key with a
 * release policy hands material out only this way.
 */
import { KeyholdError } from '../../../errors.js';
import { toBase64, wipe } from '../../../crypto/bytes.js';
import { cmsEnvelopeForRsa } from '../../../crypto/recipient/cms-enveloped-data.js';
import { rsaRecipientKey } from '../../../crypto/recipient/rsa-oaep-envelope.js';
import type { ReleasePolicy } from '../../../keys/release/release-policy.js';
import type { RecipientVerifier } from '../../../keys/release/recipient.js';
import { KmsError } from './kms-errors.js';

export interface KmsRecipient {
  readonly keyEncryptionAlgorithm: string | undefined;
  readonly attestationDocument: Uint8Array | undefined;
}

export interface KmsReleaseGate {
  /** `{ [field]: base64 }` without a recipient, `{ CiphertextForRecipient }` with one; the material is wiped. */
  deliver(material: Uint8Array, field: string): Record<string, string>;
}

/**
 * Checks, before any material is produced, that it may be handed out.
 * @throws KeyholdError KH_RELEASE_* / KH_ATTESTATION_*; KmsError ValidationException for a recipient KMS would refuse
 */
export function kmsReleaseGate(verifier: RecipientVerifier, policy: ReleasePolicy | undefined, recipient: KmsRecipient | undefined): KmsReleaseGate {
  if (recipient === undefined) {
    if (policy !== undefined) throw new KeyholdError('KH_RELEASE_RECIPIENT_REQUIRED');
    return {
      deliver(material, field) {
        try {
          return { [field]: toBase64(material) };
        } finally {
          wipe(material);
        }
      },
    };
  }
  if ((recipient.keyEncryptionAlgorithm ?? 'RSAES_OAEP_SHA_256') !== 'RSAES_OAEP_SHA_256')
    throw new KmsError('ValidationException', 'Recipient.KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256', 'KH_RECIPIENT_KEY_UNSUPPORTED');
  if (recipient.attestationDocument === undefined) throw new KmsError('ValidationException', 'Recipient.AttestationDocument is required', 'KH_BAD_REQUEST');
  const attestation = verifier.verify(recipient.attestationDocument, policy);
  const key = attestation.publicKey === undefined ? undefined : rsaRecipientKey(attestation.publicKey);
  if (key === undefined) throw new KmsError('ValidationException', "The attestation document's public_key is not an RSA key of 2048 to 4096 bits", 'KH_RECIPIENT_KEY_UNSUPPORTED');
  return {
    deliver(material) {
      try {
        return { CiphertextForRecipient: toBase64(cmsEnvelopeForRsa(key, material)) };
      } finally {
        wipe(material);
      }
    },
  };
}
