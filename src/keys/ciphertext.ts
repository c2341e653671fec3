/**
 * Self-describing outputs (docs/protocols.md §3): `keyhold:v<version>:<base64>`.
 * The version tells decrypt/verify which key version to use; nothing else is
 * embedded (associated data and context are supplied again by the caller).
 */
import { KeyholdError, type ErrorCode } from '../errors.js';
import { fromBase64Strict, toBase64 } from '../crypto/bytes.js';

const PREFIX = 'keyhold:v';
const FORM = /^keyhold:v([1-9][0-9]{0,8}):([A-Za-z0-9+/]*={0,2})$/;

export function encodeVersioned(version: number, bytes: Uint8Array): string {
  return `${PREFIX}${version}:${toBase64(bytes)}`;
}

/**
 * @throws KeyholdError with `code` (KH_CIPHERTEXT_MALFORMED or KH_SIGNATURE_MALFORMED) when the text is not of the form.
 */
export function decodeVersioned(text: string, code: Extract<ErrorCode, 'KH_CIPHERTEXT_MALFORMED' | 'KH_SIGNATURE_MALFORMED'>): { version: number; bytes: Uint8Array } {
  const m = FORM.exec(text);
  const bytes = m ? fromBase64Strict(m[2]!) : undefined;
  if (!m || bytes === undefined || bytes.length === 0) throw new KeyholdError(code);
  return { version: Number(m[1]), bytes };
}
