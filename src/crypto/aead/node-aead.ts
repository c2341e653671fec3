/**
 * AES-GCM (NIST SP 800-38D) and ChaCha20-Poly1305 (RFC 8439) through
 * node:crypto (OpenSSL), 16-byte tags.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes, type CipherChaCha20Poly1305Types } from 'node:crypto';
import { checkAeadKey, type AeadAlgorithm } from './aead.js';

const TAG = 16;

function nodeAead(name: string, cipherFor: (key: Uint8Array) => CipherGCMTypes | CipherChaCha20Poly1305Types, keyBytes: number[], nonceBytes: number): AeadAlgorithm {
  const alg: AeadAlgorithm = {
    name,
    keyBytes,
    nonceBytes,
    tagBytes: TAG,
    seal(key, nonce, plaintext, aad) {
      checkAeadKey(alg, key);
      if (nonce.length !== nonceBytes) throw new TypeError(`${name} needs a ${nonceBytes}-byte nonce`);
      const c = createCipheriv(cipherFor(key) as CipherGCMTypes, key, nonce, { authTagLength: TAG });
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const head = c.update(plaintext);
      const tail = c.final();
      const out = new Uint8Array(head.length + tail.length + TAG);
      out.set(head, 0);
      out.set(tail, head.length);
      out.set(c.getAuthTag(), head.length + tail.length);
      return out;
    },
    open(key, nonce, sealed, aad) {
      checkAeadKey(alg, key);
      if (nonce.length !== nonceBytes || sealed.length < TAG) return undefined;
      const d = createDecipheriv(cipherFor(key) as CipherGCMTypes, key, nonce, { authTagLength: TAG });
      d.setAAD(aad, { plaintextLength: sealed.length - TAG });
      d.setAuthTag(sealed.subarray(sealed.length - TAG));
      try {
        const head = d.update(sealed.subarray(0, sealed.length - TAG));
        const tail = d.final();
        const out = new Uint8Array(head.length + tail.length);
        out.set(head, 0);
        out.set(tail, head.length);
        head.fill(0);
        return out;
      } catch {
        return undefined;
      }
    },
  };
  return alg;
}

const gcmName = (key: Uint8Array): CipherGCMTypes => (key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm');

/** AES-GCM with a 96-bit nonce; 128/192/256-bit keys. */
export const aesGcm = nodeAead('AES-GCM', gcmName, [16, 24, 32], 12);
/** ChaCha20-Poly1305 (RFC 8439), 96-bit nonce. */
export const chacha20Poly1305 = nodeAead('ChaCha20-Poly1305', () => 'chacha20-poly1305', [32], 12);
