/**
 * AES-256-GCM with a random 96-bit nonce, for Keyhold's own records (barrier,
 * root key, keyring). Layout: nonce(12) || ciphertext || tag(16).
 * Random 96-bit nonces are safe for up to 2^32 messages per key (SP 800-38D
 * §8.3); the barrier rotates its key by term long before that.
 */
import { aeadDecrypt, aeadEncrypt } from './aead/aead.js';
import { aesGcm } from './aead/node-aead.js';

export function aesGcmEncrypt(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new TypeError('AES-256-GCM needs a 32-byte key');
  return aeadEncrypt(aesGcm, key, plaintext, aad);
}

/** @returns the plaintext, or undefined when authentication fails. */
export function aesGcmDecrypt(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (key.length !== 32) throw new TypeError('AES-256-GCM needs a 32-byte key');
  return aeadDecrypt(aesGcm, key, sealed, aad);
}
