/**
 * The contract every signature algorithm implements. Private and public
 * handles are opaque to callers (KeyObjects or raw bytes, per algorithm), so
 * key parsing happens once per key version, not per request.
 */
/** sha1 is accepted only on keys created with legacy: true (verification of old signatures during migration). */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface SignOptions {
  /** Digest for ECDSA/RSA (ignored by Ed25519 and ML-DSA, which hash internally). */
  hash: HashName;
  /** Input is already a digest of `hash` (ECDSA, RSA PKCS#1 v1.5). */
  prehashed: boolean;
  /** RSA only. */
  rsaPadding: 'pss' | 'pkcs1v15';
  /** ECDSA only: ASN.1 DER or IEEE P1363 (r || s). */
  ecdsaFormat: 'der' | 'p1363';
}

export interface GeneratedKeyPair {
  /** Stored secret form (see each algorithm's header). */
  readonly secret: Uint8Array;
  /** Public key: SPKI DER where the algorithm has one, else raw. */
  readonly publicKey: Uint8Array;
}

export interface SignatureScheme<Priv = unknown, Pub = unknown> {
  readonly name: string;
  /** Options this scheme honours; the keys layer refuses the others. */
  readonly supports: { hash: boolean; prehashed: boolean; rsaPadding: boolean; ecdsaFormat: boolean };
  generate(): GeneratedKeyPair;
  /** Validates imported private material (raw or PKCS#8, per algorithm) and returns it in stored form with its public key. @throws on anything else */
  importSecret(bytes: Uint8Array): GeneratedKeyPair;
  /** Validates an imported public key (SPKI DER, raw for ML-DSA) and returns its stored form. @throws on anything else */
  importPublic(bytes: Uint8Array): Uint8Array;
  loadPrivate(secret: Uint8Array): Priv;
  loadPublic(publicKey: Uint8Array): Pub;
  sign(priv: Priv, message: Uint8Array, options: SignOptions): Uint8Array;
  /** False for any invalid or malformed signature; never throws on bad signature bytes. */
  verify(pub: Pub, message: Uint8Array, signature: Uint8Array, options: SignOptions): boolean;
}

export const DIGEST_BYTES: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
