/**
 * The primitives of the end-to-end channel (docs/protocols.md §1) behind one
 * interface, so the protocol code runs unchanged on the server (node:crypto,
 * fast X25519) and in a browser (@noble/*, no Node APIs).
 */

/** An X25519 key pair whose secret half never leaves the object. */
export interface ChannelKeyPair {
  /** Raw 32-byte u-coordinate (RFC 7748). */
  readonly publicKey: Uint8Array;
  /** X25519(secret, peer). Implementations refuse an all-zero result. */
  agree(peerPublicKey: Uint8Array): Uint8Array;
  /** Zeroes the secret where the platform allows it. */
  wipe(): void;
}

export interface ChannelSuite {
  generateKeyPair(): ChannelKeyPair;
  /** HKDF-SHA-256 (RFC 5869). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** XChaCha20-Poly1305 with empty AAD; the 16-byte tag is appended. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns undefined when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  randomBytes(length: number): Uint8Array;
  /** Lowercase hex. */
  toHex(bytes: Uint8Array): string;
  /** Decodes hex of either case; undefined unless every character is a hex digit and the length is even. */
  fromHex(hex: string): Uint8Array | undefined;
}

/** RFC 7748 §6.1: an all-zero shared secret means the peer sent a low-order point. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}
