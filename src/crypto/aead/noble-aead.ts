/**
 * AES-256-GCM-SIV (RFC 8452) and XChaCha20-Poly1305
 * (draft-irtf-cfrg-xchacha-03) from @noble/ciphers: OpenSSL 3.0 through Node
 * 20 offers neither.
 */
import { gcmsiv } from '@noble/ciphers/aes.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { checkAeadKey, type AeadAlgorithm } from './aead.js';

type NobleAead = (key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array) => { encrypt(p: Uint8Array): Uint8Array; decrypt(c: Uint8Array): Uint8Array };

function nobleAead(name: string, make: NobleAead, keyBytes: number[], nonceBytes: number): AeadAlgorithm {
  const alg: AeadAlgorithm = {
    name,
    keyBytes,
    nonceBytes,
    tagBytes: 16,
    seal(key, nonce, plaintext, aad) {
      checkAeadKey(alg, key);
      if (nonce.length !== nonceBytes) throw new TypeError(`${name} needs a ${nonceBytes}-byte nonce`);
      return make(key, nonce, aad).encrypt(plaintext);
    },
    open(key, nonce, sealed, aad) {
      checkAeadKey(alg, key);
      if (nonce.length !== nonceBytes || sealed.length < 16) return undefined;
      try {
        return make(key, nonce, aad).decrypt(sealed);
      } catch {
        return undefined;
      }
    },
  };
  return alg;
}

export const aesGcmSiv = nobleAead('AES-GCM-SIV', gcmsiv, [16, 32], 12);
export const xchacha20Poly1305 = nobleAead('XChaCha20-Poly1305', xchacha20poly1305, [32], 24);
