/**
 * Client public keys that tokens are bound to (machine identities, and users
 * who bind their session to a key): Ed25519 or ECDSA P-256, given as PEM
 * (SPKI) or JWK. The binding is the RFC 7638 thumbprint (`cnf.jkt`), and the
 * request-signature algorithm follows from the key (docs/protocols.md §5).
 */
import type { JsonWebKey } from 'node:crypto';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { KeyholdError } from '../errors.js';

export type ClientKeyAlg = 'ed25519' | 'ecdsa-p256-sha256';

export interface ClientKey {
  /** The public JWK with only its defining members (kty, crv, x[, y]). */
  readonly jwk: JsonWebKey;
  readonly jkt: string;
  readonly alg: ClientKeyAlg;
  readonly key: KeyObject;
}

const invalid = (why: string) => new KeyholdError('KH_INPUT_INVALID', `publicKey: ${why}`);

export async function parseClientKey(input: string | JsonWebKey): Promise<ClientKey> {
  let key: KeyObject;
  try {
    if (typeof input === 'string') key = createPublicKey({ key: input, format: 'pem' });
    else {
      // Never accept (or keep) private members, even if a caller sends them.
      const { d: _private, ...pub } = input;
      key = createPublicKey({ key: pub, format: 'jwk' });
    }
  } catch {
    throw invalid('not a PEM public key or a public JWK');
  }
  if (key.type !== 'public') throw invalid('a public key is needed');
  const full = key.export({ format: 'jwk' });
  let jwk: JsonWebKey;
  let alg: ClientKeyAlg;
  if (key.asymmetricKeyType === 'ed25519') {
    jwk = { kty: 'OKP', crv: 'Ed25519', x: full.x! };
    alg = 'ed25519';
  } else if (key.asymmetricKeyType === 'ec' && full.crv === 'P-256') {
    jwk = { kty: 'EC', crv: 'P-256', x: full.x!, y: full.y! };
    alg = 'ecdsa-p256-sha256';
  } else {
    throw invalid('only Ed25519 and ECDSA P-256 keys are accepted');
  }
  return { jwk, jkt: await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0], 'sha256'), alg, key };
}

/** Verifies a signature by a client key: Ed25519, or ECDSA P-256/SHA-256 in r||s form (64 bytes). */
export function verifyClientSignature(key: ClientKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.alg === 'ed25519') return signature.length === 64 && verify(null, message, key.key, signature);
    return signature.length === 64 && verify('sha256', message, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
