/**
 * Data key pairs (as AWS KMS GenerateDataKeyPair): a fresh asymmetric key
 * pair generated from Keyhold's entropy source (RSA: OpenSSL's DRBG, see
 * crypto/signature/rsa.ts) by the same schemes that generate stored keys,
 * handed out as PKCS#8 DER (private) and SPKI DER (public). The caller wraps
 * the private half under a symmetric key with encrypt(); Keyhold keeps nothing.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { wipe } from '../../crypto/bytes.js';
import type { EcPrivate } from '../../crypto/signature/ecdsa.js';
import { specOf } from '../key-types.js';

export const DATA_KEY_PAIR_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'ecdsa-secp256k1', 'ed25519'] as const;
export type DataKeyPairType = (typeof DATA_KEY_PAIR_TYPES)[number];

/** @returns the private key as PKCS#8 DER (the caller wipes it) and the public key as SPKI DER */
export function generateDataKeyPair(type: DataKeyPairType): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const spec = specOf(type);
  if (spec.kind !== 'signature') throw new KeyholdError('KH_KEY_TYPE_INVALID', `${type} is not a key pair type`);
  const pair = spec.scheme.generate();
  try {
    const loaded = spec.scheme.loadPrivate(pair.secret);
    // ECDSA handles carry the KeyObject beside the scalar; RSA and Ed25519 handles are KeyObjects.
    const key: KeyObject = type.startsWith('ecdsa-') ? (loaded as EcPrivate).key : (loaded as KeyObject);
    const publicKey = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
    return { privateKey: new Uint8Array(key.export({ format: 'der', type: 'pkcs8' })), publicKey };
  } finally {
    wipe(pair.secret);
  }
}
