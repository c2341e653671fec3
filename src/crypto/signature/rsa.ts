/**
 * RSA signatures (RFC 8017: PSS with salt = digest length, and PKCS#1 v1.5)
 * and RSA-OAEP encryption through node:crypto.
 *
 * Key generation uses OpenSSL's DRBG (node:crypto.generateKeyPairSync): prime
 * generation cannot be fed from Keyhold's entropy source through Node's API.
 * This is the one key type the entropy mixer does not cover; documented in
 * docs/keys.md. Secret form: PKCS#8 DER. Public form: SPKI DER.
 */
import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, privateEncrypt, publicDecrypt, publicEncrypt, sign, verify, type KeyObject } from 'node:crypto';
import { constantTimeEqual, concatBytes } from '../bytes.js';
import { KeyholdError } from '../../errors.js';
import { loadPkcs8OfType, loadSpkiOfType } from './ed25519.js';
import { DIGEST_BYTES, type HashName, type SignatureScheme } from './signature-scheme.js';

// RFC 8017 §9.2 note 1: DigestInfo DER prefixes, for PKCS#1 v1.5 over a caller-supplied digest.
const DIGEST_INFO: Record<HashName, Buffer> = {
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

function padding(o: { rsaPadding: 'pss' | 'pkcs1v15' }) {
  return o.rsaPadding === 'pss'
    ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : { padding: constants.RSA_PKCS1_PADDING };
}

export function rsaScheme(bits: 2048 | 3072 | 4096): SignatureScheme<KeyObject, KeyObject> {
  return {
    name: `RSA-${bits}`,
    supports: { hash: true, prehashed: true, rsaPadding: true, ecdsaFormat: false },
    generate() {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
      return {
        secret: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
        publicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
      };
    },
    importSecret(bytes) {
      const key = loadPkcs8OfType(bytes, 'rsa');
      if (key.asymmetricKeyDetails?.modulusLength !== bits) throw new KeyholdError('KH_INPUT_INVALID', `the private key is not RSA-${bits}`);
      return { secret: new Uint8Array(key.export({ format: 'der', type: 'pkcs8' })), publicKey: new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' })) };
    },
    importPublic(bytes) {
      const key = loadSpkiOfType(bytes, 'rsa');
      if (key.asymmetricKeyDetails?.modulusLength !== bits) throw new KeyholdError('KH_INPUT_INVALID', `the public key is not RSA-${bits}`);
      return bytes.slice();
    },
    loadPrivate: (secret) => createPrivateKey({ key: Buffer.from(secret), format: 'der', type: 'pkcs8' }),
    loadPublic: (spki) => createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
    sign(priv, message, o) {
      if (!o.prehashed) return new Uint8Array(sign(o.hash, message, { key: priv, ...padding(o) }));
      if (o.rsaPadding === 'pss') throw new RangeError('prehashed input is supported with PKCS#1 v1.5 only');
      if (message.length !== DIGEST_BYTES[o.hash]) throw new RangeError('prehashed input has the wrong length for the hash');
      return new Uint8Array(privateEncrypt({ key: priv, padding: constants.RSA_PKCS1_PADDING }, concatBytes(DIGEST_INFO[o.hash], message)));
    },
    verify(pub, message, signature, o) {
      try {
        if (!o.prehashed) return verify(o.hash, message, { key: pub, ...padding(o) }, signature);
        if (o.rsaPadding === 'pss' || message.length !== DIGEST_BYTES[o.hash]) return false;
        const recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
        return constantTimeEqual(recovered, concatBytes(DIGEST_INFO[o.hash], message));
      } catch {
        return false;
      }
    },
  };
}

/** RSA-OAEP with MGF1 over the same hash (RFC 8017 §7.1). */
export function rsaOaepEncrypt(pub: KeyObject, plaintext: Uint8Array, hash: HashName): Uint8Array {
  return new Uint8Array(publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext));
}

/** @returns the plaintext, or undefined on any failure (one outcome, no oracle). */
export function rsaOaepDecrypt(priv: KeyObject, ciphertext: Uint8Array, hash: HashName, label?: Uint8Array): Uint8Array | undefined {
  try {
    return new Uint8Array(privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, ...(label ? { oaepLabel: label } : {}) }, ciphertext));
  } catch {
    return undefined;
  }
}

/** Max OAEP plaintext for a modulus (RFC 8017 §7.1.1): k - 2hLen - 2. */
export function rsaOaepMaxPlaintext(pub: KeyObject, hash: HashName): number {
  const bits = pub.asymmetricKeyDetails?.modulusLength ?? 2048;
  return bits / 8 - 2 * DIGEST_BYTES[hash] - 2;
}

export const sha = (hash: HashName, data: Uint8Array): Uint8Array => new Uint8Array(createHash(hash).update(data).digest());
