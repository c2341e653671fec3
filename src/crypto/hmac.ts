/** HMAC-SHA-256 (RFC 2104) through node:crypto. */
import { createHmac } from 'node:crypto';

export function hmacSha256(key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}
