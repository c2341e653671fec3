/**
 * encrypt / decrypt / rewrap with hsm-aes256-gcm keys: CKM_AES_GCM on the
 * token (NIST SP 800-38D; PKCS#11 v2.40 current mechanisms §2.12.3), 96-bit
 * random IV, 128-bit tag. The output is the software AEAD keys' format,
 * keyhold:v<n>:base64(iv || ciphertext || tag), and the AAD is the same
 * binding of associated data and encryption context (operations/associated-data.ts),
 * so callers cannot tell the two apart. Every decryption failure is
 * KH_DECRYPT_FAILED "decryption failed"; HSM faults keep their own codes (KH_HSM_UNAVAILABLE, KH_HSM_OPERATION_FAILED…).
 */
import { KeyholdError } from '../../errors.js';
import { concatBytes } from '../../crypto/bytes.js';
import type { Pkcs11Key } from '../../seal/pkcs11/pkcs11-client.js';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import { associatedData } from '../operations/associated-data.js';
import type { DecryptInput, EncryptInput } from '../operations/encrypt.js';
import type { HsmAccess } from './hsm-objects.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

function aesKey(key: ManagedKey, what: 'encrypt' | 'decrypt'): void {
  if (key.spec.kind !== 'hsm' || key.spec.hsm.algorithm !== 'aes-gcm') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot ${what}`);
}

export async function hsmEncrypt(hsm: HsmAccess, key: ManagedKey, input: EncryptInput): Promise<{ ciphertext: string; version: number }> {
  key.checkUsable();
  aesKey(key, 'encrypt');
  const version = key.encryptionVersion(input.version);
  const object = key.handles(version).privateKey as Pkcs11Key;
  const client = await hsm.client();
  const { iv, ciphertext } = await client.aesGcmEncrypt(object, input.plaintext, associatedData(input.associatedData, input.context));
  return { ciphertext: encodeVersioned(version, concatBytes(iv, ciphertext)), version };
}

/** @throws KeyholdError KH_DECRYPT_FAILED for anything that does not authenticate. */
export async function hsmDecrypt(hsm: HsmAccess, key: ManagedKey, input: DecryptInput): Promise<{ plaintext: Uint8Array; version: number }> {
  key.checkUsable();
  aesKey(key, 'decrypt');
  const { version, bytes } = decodeVersioned(input.ciphertext, 'KH_CIPHERTEXT_MALFORMED');
  key.checkDecryptionVersion(version);
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new KeyholdError('KH_DECRYPT_FAILED');
  const object = key.handles(version).privateKey as Pkcs11Key;
  const client = await hsm.client();
  const plaintext = await client.aesGcmDecrypt(object, bytes.subarray(0, IV_BYTES), bytes.subarray(IV_BYTES), associatedData(input.associatedData, input.context));
  return { plaintext, version };
}

/** Decrypts and re-encrypts under the current version on the token; the plaintext is wiped before returning. */
export async function hsmRewrap(hsm: HsmAccess, key: ManagedKey, input: DecryptInput & { version?: number | undefined }): Promise<{ ciphertext: string; version: number }> {
  const { plaintext } = await hsmDecrypt(hsm, key, input);
  try {
    return await hsmEncrypt(hsm, key, { plaintext, associatedData: input.associatedData, context: input.context, version: input.version });
  } finally {
    plaintext.fill(0);
  }
}
