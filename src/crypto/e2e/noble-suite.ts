/**
 * Channel primitives from @noble/* only: runs in browsers, workers and Node
 * alike (the client SDK uses this suite).
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { isAllZero, type ChannelKeyPair, type ChannelSuite } from './suite.js';

function nobleKeyPair(): ChannelKeyPair {
  const secret = randomBytes(32);
  const publicKey = x25519.getPublicKey(secret);
  let wiped = false;
  return {
    publicKey,
    agree(peer) {
      // A zeroed scalar still "works" (X25519 clamps it) and would give a public value: refuse instead.
      if (wiped) throw new TypeError('this key pair was wiped');
      let shared: Uint8Array;
      try {
        shared = x25519.getSharedSecret(secret, peer);
      } catch {
        throw new RangeError('X25519 with this peer key failed');
      }
      if (isAllZero(shared)) throw new RangeError('X25519 produced an all-zero shared secret');
      return shared;
    },
    wipe() {
      secret.fill(0);
      wiped = true;
    },
  };
}

export const nobleChannelSuite: ChannelSuite = {
  generateKeyPair: nobleKeyPair,
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  seal: (key, nonce, plaintext) => xchacha20poly1305(key, nonce).encrypt(plaintext),
  open(key, nonce, sealed) {
    try {
      return xchacha20poly1305(key, nonce).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  randomBytes,
  toHex: bytesToHex,
  fromHex(hex) {
    try {
      return hexToBytes(hex);
    } catch {
      return undefined;
    }
  },
};
