/**
 * X25519 key agreement (RFC 7748) through node:crypto. Secret form: the
 * 32-byte private scalar from Keyhold's entropy source (clamping is applied
 * by X25519 itself). Public form: SPKI DER. Peer keys are accepted as SPKI
 * DER, PEM or the raw 32-byte u-coordinate. An all-zero shared secret
 * (a low-order peer point, RFC 7748 §6.1) is refused.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { concatBytes } from '../bytes.js';
import { entropy } from '../random.js';

// RFC 8410 §7 prefixes for raw X25519 keys.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519Private(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, secret)), format: 'der', type: 'pkcs8' });
}

export function x25519Generate(): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = entropy(32);
  return { secret, publicKey: new Uint8Array(createPublicKey(x25519Private(secret)).export({ format: 'der', type: 'spki' })) };
}

/** @throws KeyholdError KH_INPUT_INVALID for anything that is not an X25519 public key. */
export function x25519Peer(peer: Uint8Array | string): KeyObject {
  try {
    const key =
      typeof peer === 'string'
        ? createPublicKey(peer)
        : peer.length === 32
          ? createPublicKey({ key: Buffer.from(concatBytes(SPKI_PREFIX, peer)), format: 'der', type: 'spki' })
          : createPublicKey({ key: Buffer.from(peer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType === 'x25519') return key;
  } catch {
    /* fall through */
  }
  throw new KeyholdError('KH_INPUT_INVALID', 'the peer public key is not an X25519 key (SPKI DER, PEM or 32 raw bytes)');
}

/** @throws KeyholdError KH_INPUT_INVALID when the result is all zero (low-order peer point). */
export function x25519Shared(priv: KeyObject, peer: KeyObject): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: priv, publicKey: peer }));
  } catch {
    // OpenSSL itself refuses an all-zero result.
    shared = new Uint8Array(32);
  }
  if (shared.every((b) => b === 0)) throw new KeyholdError('KH_INPUT_INVALID', 'the peer public key is a low-order point');
  return shared;
}
