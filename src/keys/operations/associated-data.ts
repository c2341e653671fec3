/**
 * The AAD bound into AEAD ciphertexts. Without an encryption context it is
 * the caller's associated data as is (so published AEAD vectors apply
 * unchanged). With a context (a string map, as KMS's EncryptionContext) it is
 *   "keyhold-context-v1" 0x00 | u32 len(ad) | ad | canonical JSON(context, keys sorted)
 * so the same pairs in any order give the same AAD, and no split of bytes
 * between ad and context collides.
 */
import { concatBytes, utf8 } from '../../crypto/bytes.js';

export type EncryptionContext = Readonly<Record<string, string>>;

const LABEL = utf8('keyhold-context-v1\0');

export function associatedData(ad: Uint8Array | undefined, context: EncryptionContext | undefined): Uint8Array {
  const data = ad ?? new Uint8Array();
  if (context === undefined || Object.keys(context).length === 0) return data;
  const sorted = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, data.length);
  return concatBytes(LABEL, len, data, utf8(JSON.stringify(sorted)));
}
