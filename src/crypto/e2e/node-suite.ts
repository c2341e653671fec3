/**
 * Channel primitives for the server: X25519 and HKDF through node:crypto
 * (OpenSSL, several times faster than pure JS for the two agreements every
 * request costs), XChaCha20-Poly1305 from @noble/ciphers because OpenSSL 3.0
 * offers no XChaCha.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { xchacha20Poly1305 } from '../aead/noble-aead.js';
import { isAllZero, type ChannelKeyPair, type ChannelSuite } from './suite.js';

/** PROTOCOLS.md §1: the channel uses empty AAD. */
const EMPTY = new Uint8Array(0);
// RFC 8410 §7: SPKI DER of an X25519 key is this prefix followed by the raw 32 bytes.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function peerKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError('an X25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function nodeKeyPair(): ChannelKeyPair {
  const pair = generateKeyPairSync('x25519');
  let privateKey: KeyObject | undefined = pair.privateKey;
  const publicKey = pair.publicKey;
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
  return {
    publicKey: raw,
    agree(peer) {
      if (privateKey === undefined) throw new TypeError('this key pair was wiped');
      let shared: Buffer;
      try {
        // OpenSSL refuses some low-order points itself; the zero check covers the rest.
        shared = diffieHellman({ privateKey, publicKey: peerKey(peer) });
      } catch {
        throw new RangeError('X25519 with this peer key failed');
      }
      if (isAllZero(shared)) throw new RangeError('X25519 produced an all-zero shared secret');
      return new Uint8Array(shared.buffer, shared.byteOffset, shared.length);
    },
    wipe() {
      // A KeyObject cannot be zeroed from JS; dropping the last reference lets OpenSSL free (and cleanse) it.
      privateKey = undefined;
    },
  };
}

export const nodeChannelSuite: ChannelSuite = {
  generateKeyPair: nodeKeyPair,
  hkdfSha256: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  seal: (key, nonce, plaintext) => xchacha20Poly1305.seal(key, nonce, plaintext, EMPTY),
  open: (key, nonce, sealed) => xchacha20Poly1305.open(key, nonce, sealed, EMPTY),
  randomBytes: (length) => new Uint8Array(randomBytes(length)),
};
