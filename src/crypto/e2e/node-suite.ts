/**
 * Channel primitives for the server: X25519 and HKDF through node:crypto
 * (OpenSSL, several times faster than pure JS for the two agreements every
 * request costs), XChaCha20-Poly1305 from @noble/ciphers because OpenSSL 3.0
 * offers no XChaCha.
 */
import { createPublicKey, diffieHellman, generateKeyPair, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { xchacha20Poly1305 } from '../aead/noble-aead.js';
import { isAllZero, type ChannelKeyPair, type ChannelSuite } from './suite.js';

/** PROTOCOLS.md §1: the channel uses empty AAD. */
const EMPTY = new Uint8Array(0);

// Raw keys go in and out as JWK (RFC 8037 OKP): on Node 20 that costs 2-20 µs
// where the SPKI DER path costs ~120 µs each way, more than the X25519 itself.
function peerKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError('an X25519 public key is 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function wrapPair(pair: { privateKey: KeyObject; publicKey: KeyObject }): ChannelKeyPair {
  let privateKey: KeyObject | undefined = pair.privateKey;
  const publicKey = pair.publicKey;
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url'));
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

/**
 * Every channel response needs a fresh key pair. They are made ahead of time
 * on libuv's thread pool (async generateKeyPair) so the request path only
 * takes one; each is used once and wiped, so forward secrecy is unchanged.
 * When the pool runs dry under a burst, a pair is made synchronously.
 */
const POOL_TARGET = 64;
const pool: ChannelKeyPair[] = [];
let filling = 0;

function refill(): void {
  while (pool.length + filling < POOL_TARGET) {
    filling++;
    generateKeyPair('x25519', undefined, (err, publicKey, privateKey) => {
      filling--;
      if (err === null) pool.push(wrapPair({ publicKey, privateKey }));
    });
  }
}

function nodeKeyPair(): ChannelKeyPair {
  const pair = pool.pop() ?? wrapPair(generateKeyPairSync('x25519'));
  if (pool.length + filling < POOL_TARGET / 2) refill();
  return pair;
}

export const nodeChannelSuite: ChannelSuite = {
  generateKeyPair: nodeKeyPair,
  hkdfSha256: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)),
  seal: (key, nonce, plaintext) => xchacha20Poly1305.seal(key, nonce, plaintext, EMPTY),
  open: (key, nonce, sealed) => xchacha20Poly1305.open(key, nonce, sealed, EMPTY),
  randomBytes: (length) => new Uint8Array(randomBytes(length)),
};
