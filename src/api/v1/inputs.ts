/** Decoding of request fields shared by the /v1 key routes. */
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../../errors.js';
import { fromBase64Strict } from '../../crypto/bytes.js';

/** Standard base64 (RFC 4648 §4) with padding; the schema caps length, decoding checks the alphabet. */
export const Base64 = (description: string, maxBytes: number) => Type.String({ description: `${description} (base64)`, maxLength: Math.ceil(maxBytes / 3) * 4 });

export const ContextMap = Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 4096 }), {
  description: 'Encryption context: string pairs bound to the ciphertext; the same pairs are needed to decrypt',
  maxProperties: 64,
});

/**
 * Body limit of a route carrying one item of up to `maxPlaintextBytes`:
 * base64 inflates by 4/3, twice for two such fields (message and signature,
 * ciphertext and associated data), plus room for the others. A batch route
 * gets the same: its items share one body, so a batch carries no more data
 * than one large request, and a million tiny items do not fit.
 */
export function itemBodyLimit(maxPlaintextBytes: number): number {
  return Math.ceil(maxPlaintextBytes / 3) * 4 * 2 + 256 * 1024;
}

/** @throws KeyholdError KH_INPUT_INVALID naming the field. */
export function b64(field: string, value: string): Uint8Array {
  const bytes = fromBase64Strict(value);
  if (bytes === undefined) throw new KeyholdError('KH_INPUT_INVALID', `${field} is not valid base64`);
  return bytes;
}

export function optionalB64(field: string, value: string | undefined): Uint8Array | undefined {
  return value === undefined ? undefined : b64(field, value);
}

/** @throws KeyholdError KH_INPUT_TOO_LARGE */
export function checkSize(field: string, bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length > max) throw new KeyholdError('KH_INPUT_TOO_LARGE', `${field} is larger than ${max} bytes`);
  return bytes;
}
