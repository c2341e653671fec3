/**
 * AES-256-GCM (NIST SP 800-38D) through node:crypto, with a 96-bit random
 * nonce and a 128-bit tag. Output layout: nonce(12) || ciphertext || tag(16).
 *
 * Random 96-bit nonces are safe for up to 2^32 messages per key (SP 800-38D
 * §8.3); the barrier rotates its key by term long before that.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const AES_GCM_NONCE_BYTES = 12;
export const AES_GCM_TAG_BYTES = 16;
export const AES_256_KEY_BYTES = 32;

export function aesGcmEncrypt(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  if (key.length !== AES_256_KEY_BYTES) throw new TypeError('AES-256-GCM needs a 32-byte key');
  const nonce = randomBytes(AES_GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(AES_GCM_NONCE_BYTES + body.length + final.length + AES_GCM_TAG_BYTES);
  out.set(nonce, 0);
  out.set(body, AES_GCM_NONCE_BYTES);
  out.set(final, AES_GCM_NONCE_BYTES + body.length);
  out.set(tag, out.length - AES_GCM_TAG_BYTES);
  return out;
}

/**
 * Decrypts nonce || ciphertext || tag.
 * @returns the plaintext, or `undefined` when authentication fails (callers map
 * this to their own fixed error; the reason is never more specific than that).
 */
export function aesGcmDecrypt(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (key.length !== AES_256_KEY_BYTES) throw new TypeError('AES-256-GCM needs a 32-byte key');
  if (sealed.length < AES_GCM_NONCE_BYTES + AES_GCM_TAG_BYTES) return undefined;
  const nonce = sealed.subarray(0, AES_GCM_NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - AES_GCM_TAG_BYTES);
  const body = sealed.subarray(AES_GCM_NONCE_BYTES, sealed.length - AES_GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const head = decipher.update(body);
    const final = decipher.final();
    const out = new Uint8Array(head.length + final.length);
    out.set(head, 0);
    out.set(final, head.length);
    head.fill(0);
    return out;
  } catch {
    return undefined;
  }
}
