/**
 * JWK thumbprints (RFC 7638, with RFC 8037 §2 for OKP keys): base64url of the
 * SHA-256 of the key's required members, sorted, as compact JSON.
 *
 * Synchronous on purpose (jose's calculateJwkThumbprint is async): request
 * verification computes it on every signed request, and a hash of ~100 bytes
 * is cheaper than a promise round trip. The tests cross-check against jose.
 */
import { createHash, type JsonWebKey } from 'node:crypto';

/** RFC 7638 §3.2 / RFC 8037 §2: the required members of each key type, in lexicographic order. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  OKP: ['crv', 'kty', 'x'],
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
};

/**
 * The RFC 7638 SHA-256 thumbprint of a public (or private) JWK, base64url.
 * Members other than the required ones (d, kid, alg, ...) do not change it.
 * @throws TypeError for an unsupported `kty` or a missing/non-string required member.
 */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = typeof jwk.kty === 'string' ? REQUIRED[jwk.kty] : undefined;
  if (members === undefined) throw new TypeError('unsupported JWK key type');
  const record = jwk as Record<string, unknown>;
  const parts = members.map((m) => {
    const v = record[m];
    if (typeof v !== 'string' || v.length === 0) throw new TypeError(`JWK member ${m} is missing`);
    // JSON.stringify escapes exactly as RFC 7638 §3.3 requires (no whitespace,
    // members in this fixed order); real values are base64url or curve names.
    return `${JSON.stringify(m)}:${JSON.stringify(v)}`;
  });
  return createHash('sha256').update(`{${parts.join(',')}}`).digest('base64url');
}
