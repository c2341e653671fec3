/** HKDF (RFC 5869) through node:crypto. */
import { hkdfSync } from 'node:crypto';

export type HkdfHash = 'sha256' | 'sha384' | 'sha512';

export function hkdf(hash: HkdfHash, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync(hash, ikm, salt, info, length));
}
