/**
 * ECDH on the NIST curves (SP 800-56A rev. 3 §5.7.1.2, the "ECC CDH"
 * primitive) through node:crypto: the shared secret Z is the x-coordinate of
 * d·Q, as AWS KMS DeriveSharedSecret returns it. The peer key is an SPKI DER
 * (or PEM) public key on the same curve; OpenSSL checks that the point lies
 * on the curve, and anything else is refused before any computation.
 */
import { createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';

export type EcdhCurve = 'P-256' | 'P-384' | 'P-521';

/** OpenSSL's names of the curves, as KeyObject.asymmetricKeyDetails reports them. */
const OPENSSL_NAMES: Record<EcdhCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/** @throws KeyholdError KH_INPUT_INVALID for anything that is not a public key on `curve`. */
export function ecdhPeer(peer: Uint8Array | string, curve: EcdhCurve): KeyObject {
  try {
    const key = typeof peer === 'string' ? createPublicKey(peer) : createPublicKey({ key: Buffer.from(peer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === OPENSSL_NAMES[curve]) return key;
  } catch {
    /* fall through */
  }
  throw new KeyholdError('KH_INPUT_INVALID', `the peer public key is not a ${curve} key (SPKI DER)`);
}

/**
 * Z = x(d·Q), big-endian, as long as the field (32, 48 or 66 bytes).
 * @throws KeyholdError KH_INPUT_INVALID when OpenSSL refuses the peer point
 */
export function ecdhShared(priv: KeyObject, peer: KeyObject): Uint8Array {
  try {
    return new Uint8Array(diffieHellman({ privateKey: priv, publicKey: peer }));
  } catch {
    throw new KeyholdError('KH_INPUT_INVALID', 'the peer public key cannot be used for ECDH with this key');
  }
}

