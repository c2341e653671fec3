/**
 * Ed25519 (RFC 8032) through node:crypto. Secret form: the 32-byte seed,
 * drawn from Keyhold's entropy source. Public form: SPKI DER.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
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

/** A parsed SPKI public key, required to be of `type` ("ed25519", "ec", "rsa", "x25519"). */
export function loadSpkiOfType(spki: Uint8Array, type: string): KeyObject {
  const key = loadSpki(spki);
  if (key.asymmetricKeyType !== type) throw new KeyholdError('KH_INPUT_INVALID', `the public key is not a ${type} key`);
  return key;
}

/** A parsed PKCS#8 private key, required to be of `type`. */
export function loadPkcs8OfType(der: Uint8Array, type: string): KeyObject {
  const key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== type) throw new KeyholdError('KH_INPUT_INVALID', `the private key is not a ${type} key`);
  return key;
}

export const ed25519: SignatureScheme<KeyObject, KeyObject> = {
  name: 'Ed25519',
  supports: { hash: false, prehashed: false, rsaPadding: false, ecdsaFormat: false },
  generate() {
    const secret = entropy(32);
    return { secret, publicKey: spkiOf(ed25519PrivateFromSeed(secret)) };
  },
  importSecret(bytes) {
    // A raw seed, or PKCS#8 (whose last 32 bytes are the seed, RFC 8410 §7).
    const seed = bytes.length === 32 ? bytes.slice() : new Uint8Array(loadPkcs8OfType(bytes, 'ed25519').export({ format: 'der', type: 'pkcs8' })).slice(-32);
    return { secret: seed, publicKey: spkiOf(ed25519PrivateFromSeed(seed)) };
  },
  importPublic: (bytes) => new Uint8Array(loadSpkiOfType(bytes, 'ed25519').export({ format: 'der', type: 'spki' })),
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
