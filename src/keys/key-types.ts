/**
 * The key types Keyhold offers and what each can do. One table: the API
 * schema's enum, the CLI's help and the operations all read it.
 */
import type { AeadAlgorithm } from '../crypto/aead/aead.js';
import { aesGcm, chacha20Poly1305 } from '../crypto/aead/node-aead.js';
import { aesGcmSiv, xchacha20Poly1305 } from '../crypto/aead/noble-aead.js';
import { ed25519 } from '../crypto/signature/ed25519.js';
import { ecdsaP256, ecdsaP384, ecdsaP521, ecdsaSecp256k1 } from '../crypto/signature/ecdsa.js';
import { rsaScheme } from '../crypto/signature/rsa.js';
import { mlDsa44, mlDsa65, mlDsa87 } from '../crypto/signature/ml-dsa.js';
import type { HashName, SignatureScheme } from '../crypto/signature/signature-scheme.js';
import { mlKem768, mlKem1024, type KemAlgorithm } from '../crypto/kem/ml-kem.js';
import type { KeyType } from './key-type-names.js';
import { HSM_KEY_TYPES, type HsmKeySpec } from './hsm/hsm-key-types.js';

export type KeySpec =
  | { readonly kind: 'aead'; readonly aead: AeadAlgorithm; readonly keyBytes: number }
  /** `anyHash`: the hash is chosen per request (hmac-any, VSSM's MAC keys); `hash` is then the default. */
  | { readonly kind: 'hmac'; readonly hash: HashName; readonly keyBytes: number; readonly anyHash?: boolean }
  /**
   * A raw block cipher key (crypto/block-cipher.ts) for VSSM's modes: AES, or
   * DES / Triple DES for legacy data. No AEAD, so never used by
   * encrypt/decrypt, transit or KMS (keys/operations/block-cipher.ts).
   */
  | { readonly kind: 'block'; readonly cipher: 'aes' | 'des' | 'des-ede3'; readonly keyBytes: number }
  | { readonly kind: 'signature'; readonly scheme: SignatureScheme; readonly defaultHash: HashName; readonly rsa: boolean }
  | { readonly kind: 'agreement' }
  | { readonly kind: 'kem'; readonly kem: KemAlgorithm }
  /** Material generated in and kept by the HSM (src/keys/hsm/). */
  | { readonly kind: 'hsm'; readonly hsm: HsmKeySpec };

export const KEY_TYPES = {
  'aes128-gcm': { kind: 'aead', aead: aesGcm, keyBytes: 16 },
  'aes192-gcm': { kind: 'aead', aead: aesGcm, keyBytes: 24 },
  'aes256-gcm': { kind: 'aead', aead: aesGcm, keyBytes: 32 },
  'aes256-gcm-siv': { kind: 'aead', aead: aesGcmSiv, keyBytes: 32 },
  'chacha20-poly1305': { kind: 'aead', aead: chacha20Poly1305, keyBytes: 32 },
  'xchacha20-poly1305': { kind: 'aead', aead: xchacha20Poly1305, keyBytes: 32 },
  // HMAC keys as long as the hash block's security level (RFC 2104 §3: at least L bytes).
  'hmac-sha256': { kind: 'hmac', hash: 'sha256', keyBytes: 32 },
  'hmac-sha384': { kind: 'hmac', hash: 'sha384', keyBytes: 48 },
  'hmac-sha512': { kind: 'hmac', hash: 'sha512', keyBytes: 64 },
  // Generated at 32 bytes unless a length is asked for; imported at any length HMAC keys may have.
  'hmac-any': { kind: 'hmac', hash: 'sha256', keyBytes: 32, anyHash: true },
  des: { kind: 'block', cipher: 'des', keyBytes: 8 },
  'des-ede3': { kind: 'block', cipher: 'des-ede3', keyBytes: 24 },
  'aes128-raw': { kind: 'block', cipher: 'aes', keyBytes: 16 },
  'aes192-raw': { kind: 'block', cipher: 'aes', keyBytes: 24 },
  'aes256-raw': { kind: 'block', cipher: 'aes', keyBytes: 32 },
  ed25519: { kind: 'signature', scheme: ed25519, defaultHash: 'sha512', rsa: false },
  'ecdsa-p256': { kind: 'signature', scheme: ecdsaP256, defaultHash: 'sha256', rsa: false },
  'ecdsa-p384': { kind: 'signature', scheme: ecdsaP384, defaultHash: 'sha384', rsa: false },
  'ecdsa-p521': { kind: 'signature', scheme: ecdsaP521, defaultHash: 'sha512', rsa: false },
  'ecdsa-secp256k1': { kind: 'signature', scheme: ecdsaSecp256k1, defaultHash: 'sha256', rsa: false },
  'rsa-2048': { kind: 'signature', scheme: rsaScheme(2048), defaultHash: 'sha256', rsa: true },
  'rsa-3072': { kind: 'signature', scheme: rsaScheme(3072), defaultHash: 'sha256', rsa: true },
  'rsa-4096': { kind: 'signature', scheme: rsaScheme(4096), defaultHash: 'sha256', rsa: true },
  'ml-dsa-44': { kind: 'signature', scheme: mlDsa44, defaultHash: 'sha256', rsa: false },
  'ml-dsa-65': { kind: 'signature', scheme: mlDsa65, defaultHash: 'sha256', rsa: false },
  'ml-dsa-87': { kind: 'signature', scheme: mlDsa87, defaultHash: 'sha256', rsa: false },
  x25519: { kind: 'agreement' },
  'ml-kem-768': { kind: 'kem', kem: mlKem768 },
  'ml-kem-1024': { kind: 'kem', kem: mlKem1024 },
  ...HSM_KEY_TYPES,
} as const satisfies Record<KeyType, KeySpec>;

export { KEY_TYPE_NAMES, HSM_KEY_TYPE_NAMES, LEGACY_KEY_TYPE_NAMES, RAW_AES_KEY_TYPE_NAMES, DEFAULT_KEY_TYPE, isKeyType, type KeyType } from './key-type-names.js';

export function specOf(type: KeyType): KeySpec {
  return KEY_TYPES[type];
}
