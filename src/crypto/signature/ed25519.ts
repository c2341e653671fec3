/**
 * Ed25519 (RFC 8032) through node:crypto. Secret form: the 32-byte seed,
 * drawn from Keyhold's entropy source. Public form: SPKI DER.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { concatBytes } from '../bytes.js';
import { entropy } from '../random.js';
import type { SignatureScheme } from './signature-scheme.js';

// RFC 8410 §7: PKCS#8 / SPKI prefixes for a raw 32-byte Ed25519 key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function ed25519PrivateFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' });
}

export function spkiOf(priv: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }));
}

export function loadSpki(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

export const ed25519: SignatureScheme<KeyObject, KeyObject> = {
  name: 'Ed25519',
  supports: { hash: false, prehashed: false, rsaPadding: false, ecdsaFormat: false },
  generate() {
    const secret = entropy(32);
    return { secret, publicKey: spkiOf(ed25519PrivateFromSeed(secret)) };
  },
  loadPrivate: ed25519PrivateFromSeed,
  loadPublic: loadSpki,
  sign: (priv, message) => new Uint8Array(sign(null, message, priv)),
  verify(pub, message, signature) {
    try {
      return verify(null, message, pub, signature);
    } catch {
      return false;
    }
  },
};
