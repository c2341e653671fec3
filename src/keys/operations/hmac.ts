/** HMAC (RFC 2104) with HMAC keys; verification compares in constant time. */
import { createHmac } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';

function hmacSpec(key: ManagedKey) {
  if (key.spec.kind !== 'hmac') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot compute an HMAC`);
  return key.spec;
}

export function computeHmac(key: ManagedKey, input: Uint8Array, version?: number): { hmac: string; version: number } {
  key.checkUsable();
  const spec = hmacSpec(key);
  const v = key.encryptionVersion(version);
  const mac = createHmac(spec.hash, key.handles(v).secret!).update(input).digest();
  return { hmac: encodeVersioned(v, mac), version: v };
}

export function verifyHmac(key: ManagedKey, input: Uint8Array, hmac: string): { valid: boolean; version: number } {
  key.checkUsable();
  const spec = hmacSpec(key);
  const { version, bytes } = decodeVersioned(hmac, 'KH_SIGNATURE_MALFORMED');
  key.checkDecryptionVersion(version);
  const expected = createHmac(spec.hash, key.handles(version).secret!).update(input).digest();
  return { valid: constantTimeEqual(expected, bytes), version };
}
