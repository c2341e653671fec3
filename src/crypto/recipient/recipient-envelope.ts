/**
 * Encrypts released material to the public key found in a recipient's
 * attestation document: a raw 32-byte key is X25519 (HPKE, RFC 9180), an
 * RSA SPKI is RSA-OAEP-SHA-256 (the algorithm AWS KMS uses for Recipient).
 * Documented for workload authors in docs/key-release.md.
 */
import { KeyholdError } from '../../errors.js';
import { hpkeSealX25519 } from './hpke-x25519.js';
import { rsaOaepSeal, rsaRecipientKey } from './rsa-oaep-envelope.js';

export type RecipientAlgorithm = 'HPKE_X25519_SHA256_AES256GCM' | 'RSAES_OAEP_SHA_256';

/** Binds every envelope to its use, so one cannot be replayed as another protocol's message. */
export const RECIPIENT_INFO = new TextEncoder().encode('keyhold recipient v1');

export interface RecipientEnvelope {
  readonly algorithm: RecipientAlgorithm;
  readonly ciphertext: Uint8Array;
}

/** @throws KeyholdError KH_RECIPIENT_KEY_UNSUPPORTED */
export async function sealForRecipient(publicKey: Uint8Array | undefined, plaintext: Uint8Array): Promise<RecipientEnvelope> {
  if (publicKey === undefined) throw new KeyholdError('KH_RECIPIENT_KEY_UNSUPPORTED', 'the recipient document has no public_key');
  if (publicKey.length === 32) return { algorithm: 'HPKE_X25519_SHA256_AES256GCM', ciphertext: await hpkeSealX25519(publicKey, plaintext, RECIPIENT_INFO) };
  const rsa = rsaRecipientKey(publicKey);
  if (rsa === undefined) throw new KeyholdError('KH_RECIPIENT_KEY_UNSUPPORTED');
  return { algorithm: 'RSAES_OAEP_SHA_256', ciphertext: rsaOaepSeal(rsa, plaintext, RECIPIENT_INFO) };
}
