/**
 * The `recipient` field of operations that hand material out (decrypt, data
 * keys, random): like AWS KMS's Recipient, an attestation document whose
 * public_key receives the result encrypted, so the plaintext never exists
 * outside Keyhold and that enclave. A key with a release policy hands its
 * material out only this way.
 */
import { Type, type Static } from '@sinclair/typebox';
import { KeyholdError } from '../../errors.js';
import { fromBase64Strict, toBase64 } from '../../crypto/bytes.js';
import { MAX_DOCUMENT_BYTES } from '../../attestation/nitro/verify.js';
import type { ReleasePolicy } from '../../keys/release/release-policy.js';
import type { RecipientVerifier } from '../../keys/release/recipient.js';
import type { NitroAttestation } from '../../attestation/nitro/verify.js';
import { sealForRecipient, type RecipientAlgorithm } from '../../crypto/recipient/recipient-envelope.js';
import { rsaRecipientKey } from '../../crypto/recipient/rsa-oaep-envelope.js';

export const RecipientSchema = Type.Object(
  {
    attestationDocument: Type.String({ maxLength: Math.ceil(MAX_DOCUMENT_BYTES / 3) * 4, description: 'base64 COSE_Sign1 attestation document of the enclave that receives the result' }),
  },
  { additionalProperties: false, description: 'Return the result encrypted to the public_key of this attestation document instead of in plaintext' },
);
export type Recipient = Static<typeof RecipientSchema>;

/** Output fields that replace `plaintext` when a recipient is given. */
export const RecipientOutputFields = {
  ciphertextForRecipient: Type.Optional(Type.String({ description: 'base64; HPKE (X25519) or RSA-OAEP envelope, see docs/key-release.md' })),
  recipientAlgorithm: Type.Optional(Type.Union([Type.Literal('HPKE_X25519_SHA256_AES256GCM'), Type.Literal('RSAES_OAEP_SHA_256')])),
};

export interface ReleaseGate {
  /** Encodes released material: plaintext (no recipient) or the recipient envelope. */
  deliver(material: Uint8Array): Promise<{ plaintext: string } | { ciphertextForRecipient: string; recipientAlgorithm: RecipientAlgorithm }>;
}

/**
 * Checks, before any material is produced, that it may be handed out: with a
 * release policy only to a recipient whose document verifies and matches.
 * @throws KeyholdError KH_RELEASE_RECIPIENT_REQUIRED, KH_RELEASE_*, KH_ATTESTATION_*
 */
export function releaseGate(verifier: RecipientVerifier, policy: ReleasePolicy | undefined, recipient: Recipient | undefined): ReleaseGate {
  if (recipient === undefined) {
    if (policy !== undefined) throw new KeyholdError('KH_RELEASE_RECIPIENT_REQUIRED');
    return { deliver: (material) => Promise.resolve({ plaintext: toBase64(material) }) };
  }
  const document = fromBase64Strict(recipient.attestationDocument);
  if (document === undefined) throw new KeyholdError('KH_INPUT_INVALID', 'recipient.attestationDocument is not base64');
  const attestation: NitroAttestation = verifier.verify(document, policy);
  // Refuse an unusable key before any material exists, not after.
  const key = attestation.publicKey;
  if (key === undefined || (key.length !== 32 && rsaRecipientKey(key) === undefined)) throw new KeyholdError('KH_RECIPIENT_KEY_UNSUPPORTED');
  return {
    async deliver(material) {
      const sealed = await sealForRecipient(attestation.publicKey, material);
      return { ciphertextForRecipient: toBase64(sealed.ciphertext), recipientAlgorithm: sealed.algorithm };
    },
  };
}

/** deliver(), with the plaintext under the route's own field name (secret, sharedSecret); wipes the material. */
export async function deliverAs<F extends string>(
  gate: ReleaseGate,
  material: Uint8Array,
  field: F,
): Promise<{ [K in F]?: string } & { ciphertextForRecipient?: string; recipientAlgorithm?: RecipientAlgorithm }> {
  try {
    const out = await gate.deliver(material);
    return ('plaintext' in out ? { [field]: out.plaintext } : out) as { [K in F]?: string };
  } finally {
    material.fill(0);
  }
}
