/**
 * The AEAD contract every cipher in Keyhold implements (RFC 5116 shape):
 * explicit-nonce seal/open for vectors and protocols, and random-nonce
 * encrypt/decrypt whose output is nonce || ciphertext || tag.
 */
import { randomFillSync } from 'node:crypto';
import { concatBytes } from '../bytes.js';

export interface AeadAlgorithm {
  readonly name: string;
  /** Accepted key lengths in bytes. */
  readonly keyBytes: readonly number[];
  readonly nonceBytes: number;
  readonly tagBytes: number;
  /** @returns ciphertext || tag */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** @returns the plaintext, or undefined when authentication fails (never a partial result). */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

export function checkAeadKey(alg: AeadAlgorithm, key: Uint8Array): void {
  if (!alg.keyBytes.includes(key.length)) throw new TypeError(`${alg.name} needs a key of ${alg.keyBytes.join(' or ')} bytes`);
}

// Nonces come from a 4 KiB pool of CSPRNG output refilled in one call: a
// randomBytes() per encryption costs more than AES-GCM of a small message.
// Each byte is handed out once, so the nonces stay uniformly random.
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** Fresh random bytes for a nonce (not for keys: those come from crypto/random.ts). */
export function randomNonce(length: number): Uint8Array {
  if (length > POOL_BYTES) return randomFillSync(new Uint8Array(length));
  if (poolOffset + length > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const nonce = pool.slice(poolOffset, poolOffset + length);
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return nonce;
}

/** Encrypts under a fresh random nonce: nonce || ciphertext || tag. */
export function aeadEncrypt(alg: AeadAlgorithm, key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomNonce(alg.nonceBytes);
  return concatBytes(nonce, alg.seal(key, nonce, plaintext, aad));
}

/** Opens nonce || ciphertext || tag; undefined when too short or not authentic. */
export function aeadDecrypt(alg: AeadAlgorithm, key: Uint8Array, data: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (data.length < alg.nonceBytes + alg.tagBytes) return undefined;
  return alg.open(key, data.subarray(0, alg.nonceBytes), data.subarray(alg.nonceBytes), aad);
}
