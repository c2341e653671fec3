/**
 * Data keys (envelope encryption, as KMS GenerateDataKey / Vault datakey):
 * fresh random bytes from the entropy source, returned wrapped under the
 * named key and, unless asked not to, in plaintext too.
 */
import { entropy } from '../../crypto/random.js';
import type { ManagedKey } from '../managed-key.js';
import type { EncryptionContext } from './associated-data.js';
import { encrypt } from './encrypt.js';

export const DATA_KEY_BITS = [128, 256, 512] as const;
export type DataKeyBits = (typeof DATA_KEY_BITS)[number];

export function dataKey(
  key: ManagedKey,
  input: { bits: DataKeyBits; includePlaintext: boolean; associatedData?: Uint8Array | undefined; context?: EncryptionContext | undefined },
): { ciphertext: string; plaintext?: Uint8Array; version: number } {
  const plaintext = entropy(input.bits / 8);
  const wrapped = encrypt(key, { plaintext, associatedData: input.associatedData, context: input.context });
  if (input.includePlaintext) return { ...wrapped, plaintext };
  plaintext.fill(0);
  return wrapped;
}
