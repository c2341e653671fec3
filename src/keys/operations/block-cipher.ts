/**
 * Raw symmetric encryption as VSSM does it ("CIPHER/MODE/PADDING",
 * shared/compat/VSSM.md), for data and clients that already depend on those
 * exact bytes. Outputs carry no key version (VSSM's have none): the key's
 * current version encrypts and decrypts, so rotating a key used this way
 * strands what it encrypted before.
 *
 * Layouts: GCM = nonce(12) || ciphertext || tag(16), no associated data
 * (the same bytes an AES-GCM key's /v1 ciphertext carries); CBC and CTR =
 * IV(block size) || ciphertext; ECB = ciphertext. Padding (PKCS#7, "PKCS5" and
 * "PKCS7" alike) is applied before the mode, also for GCM and CTR, as VSSM.
 *
 * Only GCM authenticates. DES, Triple DES and ECB need a key created with
 * legacy: true; CBC and CTR are kept for VSSM's clients. Every decryption
 * failure (length, padding, tag) is KH_DECRYPT_FAILED with one message; a
 * caller allowed to decrypt learns nothing from a padding check that it could
 * not learn by decrypting.
 */
import { KeyholdError } from '../../errors.js';
import { aeadDecrypt, aeadEncrypt, randomNonce } from '../../crypto/aead/aead.js';
import { aesGcm } from '../../crypto/aead/node-aead.js';
import { blockBytes, blockDecrypt, blockEncrypt, pkcs7Pad, pkcs7Unpad, type BlockCipherName } from '../../crypto/block-cipher.js';
import { concatBytes } from '../../crypto/bytes.js';
import type { ManagedKey } from '../managed-key.js';
import { checkUsage } from '../key-usage.js';

export type RawCipher = BlockCipherName;
export type RawMode = 'ecb' | 'cbc' | 'ctr' | 'gcm';

export interface RawCipherSpec {
  readonly cipher: RawCipher;
  readonly mode: RawMode;
  readonly padding: 'none' | 'pkcs7';
}

const NO_AAD = new Uint8Array(0);
const GCM_NONCE = 12;
const GCM_TAG = 16;

/** The key's raw bytes for `spec`, after every check. */
function material(key: ManagedKey, spec: RawCipherSpec): { secret: Uint8Array; version: number } {
  key.checkUsable();
  checkUsage(key.record, 'encrypt-decrypt');
  const ks = key.spec;
  const type = key.record.type;
  const fits =
    spec.cipher === 'aes' ? ks.kind === 'aead' && ks.aead === aesGcm : ks.kind === 'block' && ks.cipher === spec.cipher;
  if (!fits) {
    const what = spec.cipher === 'aes' ? 'an AES key (aes128-gcm, aes192-gcm, aes256-gcm)' : `a ${spec.cipher} key`;
    throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${spec.cipher === 'des-ede3' ? '3DES' : spec.cipher.toUpperCase()} needs ${what}; this key is ${type}`);
  }
  if (spec.mode === 'gcm' && spec.cipher !== 'aes') throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'GCM is a mode of AES only');
  if ((spec.cipher !== 'aes' || spec.mode === 'ecb') && !key.record.legacy)
    throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', `${spec.cipher === 'aes' ? 'ECB' : spec.cipher === 'des' ? 'DES' : '3DES'} is allowed only on keys created with legacy: true (use AES/GCM)`);
  const version = key.encryptionVersion();
  key.checkDecryptionVersion(version);
  const secret = key.handles(version).secret;
  if (secret === undefined) throw new KeyholdError('KH_KEY_VERSION_INVALID');
  return { secret, version };
}

/**
 * Encrypts `plaintext` with the key's current version.
 * @throws KeyholdError KH_KEY_OPERATION_UNSUPPORTED (cipher does not fit the key), KH_KEY_LEGACY_REQUIRED, KH_INPUT_INVALID (NoPadding input not a whole number of blocks)
 */
export function rawEncrypt(key: ManagedKey, spec: RawCipherSpec, plaintext: Uint8Array): { output: Uint8Array; version: number } {
  const { secret, version } = material(key, spec);
  const size = blockBytes(spec.cipher);
  const data = spec.padding === 'pkcs7' ? pkcs7Pad(plaintext, size) : plaintext;
  if ((spec.mode === 'ecb' || spec.mode === 'cbc') && data.length % size !== 0)
    throw new KeyholdError('KH_INPUT_INVALID', `${spec.mode.toUpperCase()} with NoPadding needs input of a multiple of ${size} bytes`);
  if (spec.mode === 'gcm') return { output: aeadEncrypt(aesGcm, secret, data, NO_AAD), version };
  const iv = spec.mode === 'ecb' ? undefined : randomNonce(size);
  const body = blockEncrypt(spec.cipher, secret, spec.mode, iv, data);
  return { output: iv === undefined ? body : concatBytes(iv, body), version };
}

/**
 * Decrypts what rawEncrypt produced (or VSSM did) with the key's current version.
 * @throws KeyholdError KH_DECRYPT_FAILED for any failure of the input (length, padding, tag), and the checks of rawEncrypt
 */
export function rawDecrypt(key: ManagedKey, spec: RawCipherSpec, input: Uint8Array): { plaintext: Uint8Array; version: number } {
  key.checkNoReleasePolicy();
  const { secret, version } = material(key, spec);
  const size = blockBytes(spec.cipher);
  let data: Uint8Array | undefined;
  if (spec.mode === 'gcm') {
    data = input.length < GCM_NONCE + GCM_TAG ? undefined : aeadDecrypt(aesGcm, secret, input, NO_AAD);
  } else {
    const ivBytes = spec.mode === 'ecb' ? 0 : size;
    const body = input.subarray(ivBytes);
    const whole = spec.mode === 'ctr' || body.length % size === 0;
    data = input.length < ivBytes || !whole ? undefined : blockDecrypt(spec.cipher, secret, spec.mode, ivBytes === 0 ? undefined : input.subarray(0, ivBytes), body);
  }
  if (data === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  if (spec.padding === 'none') return { plaintext: data, version };
  const plaintext = pkcs7Unpad(data, size);
  data.fill(0);
  if (plaintext === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  return { plaintext, version };
}
