/**
 * Data keys (envelope encryption, as KMS GenerateDataKey / Vault datakey):
 * fresh random bytes from the entropy source, returned wrapped under the
 * named key and, unless asked not to, in plaintext too.
 */
import { KeyholdError } from '../../errors.js';
import { entropy } from '../../crypto/random.js';
import type { ManagedKey } from '../managed-key.js';
import type { EncryptionContext } from './associated-data.js';
import { encrypt } from './encrypt.js';

export const DATA_KEY_BITS = [128, 256, 512] as const;
export type DataKeyBits = (typeof DATA_KEY_BITS)[number];
/** Data keys of any length in bytes (AWS KMS NumberOfBytes) are 1 to this many bytes. */
export const MAX_DATA_KEY_BYTES = 1024;

/** The length of a data key: `bits` (one of DATA_KEY_BITS), or `bytes` (1..MAX_DATA_KEY_BYTES). */
export type DataKeyLength = { bits: DataKeyBits } | { bytes: number };

/** @throws KeyholdError KH_INPUT_INVALID for a byte count outside 1..MAX_DATA_KEY_BYTES */
export function dataKeyBytes(length: DataKeyLength): number {
  if ('bits' in length) return length.bits / 8;
  if (!Number.isInteger(length.bytes) || length.bytes < 1 || length.bytes > MAX_DATA_KEY_BYTES) throw new KeyholdError('KH_INPUT_INVALID', `data keys are 1 to ${MAX_DATA_KEY_BYTES} bytes`);
  return length.bytes;
}

export function dataKey(
  key: ManagedKey,
  input: DataKeyLength & { includePlaintext: boolean; associatedData?: Uint8Array | undefined; context?: EncryptionContext | undefined },
): { ciphertext: string; plaintext?: Uint8Array; version: number } {
  const plaintext = entropy(dataKeyBytes(input));
  try {
    const wrapped = encrypt(key, { plaintext, associatedData: input.associatedData, context: input.context });
    if (input.includePlaintext) return { ...wrapped, plaintext };
    plaintext.fill(0);
    return wrapped;
  } catch (e) {
    plaintext.fill(0);
    throw e;
  }
}
