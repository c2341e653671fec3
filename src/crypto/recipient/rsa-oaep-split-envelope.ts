/**
 * VSSM's backup envelope (docs/compat.md#vssm, generatebackup): a fresh
 * 256-bit key wrapped with RSA-OAEP-SHA-256 (MGF1-SHA-256, empty label) to an
 * RSA public key, and the data sealed with AES-256-GCM under it, the two
 * travelling as separate fields:
 *   encryptionKey  = RSA-OAEP-SHA-256(key)
 *   encryptedState = nonce(12) || ciphertext || tag(16), no associated data
 */
import type { KeyObject } from 'node:crypto';
import { aesGcmDecrypt, aesGcmEncrypt } from '../aes-gcm.js';
import { entropy } from '../random.js';
import { wipe } from '../bytes.js';
import { rsaOaepDecrypt, rsaOaepEncrypt } from '../signature/rsa.js';

const NO_AAD = new Uint8Array(0);

export function sealSplitEnvelope(publicKey: KeyObject, plaintext: Uint8Array): { encryptionKey: Uint8Array; encryptedState: Uint8Array } {
  const key = entropy(32, 'backup-key');
  try {
    return { encryptionKey: rsaOaepEncrypt(publicKey, key, 'sha256'), encryptedState: aesGcmEncrypt(key, plaintext, NO_AAD) };
  } finally {
    wipe(key);
  }
}

/** @returns the plaintext, or undefined when either part does not open (one outcome) */
export function openSplitEnvelope(privateKey: KeyObject, encryptionKey: Uint8Array, encryptedState: Uint8Array): Uint8Array | undefined {
  const key = rsaOaepDecrypt(privateKey, encryptionKey, 'sha256');
  if (key === undefined || key.length !== 32) return undefined;
  try {
    return aesGcmDecrypt(key, encryptedState, NO_AAD);
  } finally {
    wipe(key);
  }
}
