/**
 * HMAC (RFC 2104) with HMAC keys; verification compares in constant time.
 * A key's type fixes its hash, except hmac-any (VSSM's MAC keys), whose hash
 * each request names; SHA-1 only on keys created with legacy: true.
 */
import { createHmac } from 'node:crypto';
import { KeyholdError } from '../../errors.js';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import type { HashName } from '../../crypto/signature/signature-scheme.js';

export interface HmacOptions {
  /** The hash to MAC with: any for hmac-any keys, else only the type's own. */
  hash?: HashName | undefined;
}

function hmacSpec(key: ManagedKey) {
  if (key.spec.kind !== 'hmac') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot compute an HMAC`);
  return key.spec;
}

/** @throws KeyholdError KH_KEY_OPTION_UNSUPPORTED for another hash than a fixed-hash key's; KH_KEY_LEGACY_REQUIRED for SHA-1 on a key without legacy */
function hashFor(key: ManagedKey, options: HmacOptions): HashName {
  const spec = hmacSpec(key);
  const hash = options.hash ?? spec.hash;
  if (hash !== spec.hash && spec.anyHash !== true) throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', `this key computes HMAC-${spec.hash.toUpperCase()} only (its type fixes the hash)`);
  if (hash === 'sha1' && !key.record.legacy) throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', 'HMAC-SHA-1 needs a key created with legacy: true');
  return hash;
}

export function computeHmac(key: ManagedKey, input: Uint8Array, version?: number, options: HmacOptions = {}): { hmac: string; version: number } {
  key.checkUsable();
  const hash = hashFor(key, options);
  const v = key.encryptionVersion(version);
  const mac = createHmac(hash, key.handles(v).secret!).update(input).digest();
  return { hmac: encodeVersioned(v, mac), version: v };
}

export function verifyHmac(key: ManagedKey, input: Uint8Array, hmac: string, options: HmacOptions = {}): { valid: boolean; version: number } {
  key.checkUsable();
  const hash = hashFor(key, options);
  const { version, bytes } = decodeVersioned(hmac, 'KH_SIGNATURE_MALFORMED');
  key.checkDecryptionVersion(version);
  const expected = createHmac(hash, key.handles(version).secret!).update(input).digest();
  return { valid: constantTimeEqual(expected, bytes), version };
}
