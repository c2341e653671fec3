/**
 * Data keys under an hsm-aes256-gcm key (envelope encryption, as KMS
 * GenerateDataKey): fresh bytes from Keyhold's entropy source, wrapped by
 * the HSM; returned in plaintext too unless asked not to.
 */
import { entropy } from '../../crypto/random.js';
import type { ManagedKey } from '../managed-key.js';
import { dataKeyBytes, type DataKeyLength } from '../operations/datakey.js';
import type { EncryptionContext } from '../operations/associated-data.js';
import type { HsmAccess } from './hsm-objects.js';
import { hsmEncrypt } from './encrypt.js';

export async function hsmDataKey(
  hsm: HsmAccess,
  key: ManagedKey,
  input: DataKeyLength & { includePlaintext: boolean; associatedData?: Uint8Array | undefined; context?: EncryptionContext | undefined },
): Promise<{ ciphertext: string; plaintext?: Uint8Array; version: number }> {
  const plaintext = entropy(dataKeyBytes(input), 'data-key');
  try {
    const wrapped = await hsmEncrypt(hsm, key, { plaintext, associatedData: input.associatedData, context: input.context });
    if (input.includePlaintext) return { ...wrapped, plaintext };
    plaintext.fill(0);
    return wrapped;
  } catch (e) {
    plaintext.fill(0);
    throw e;
  }
}
