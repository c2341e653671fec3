/**
 * Raw symmetric encryption as VSSM does it ("CIPHER/MODE/PADDING",
 * docs/compat.md#vssm), for data and clients that already depend on those
 * exact bytes. Outputs carry no key version (VSSM's have none): the key's
 * current version encrypts and decrypts, so rotating a key used this way
 * strands what it encrypted before.
 *
 * Layouts: GCM = nonce(12) || ciphertext || tag(16), no associated data
 * (the same bytes an AES-GCM key's /v1 ciphertext carries); CBC and CTR =
 * IV(block size) || ciphertext; ECB = ciphertext. Padding (PKCS#7, "PKCS5" and
 * "PKCS7" alike) is applied before the mode, also for GCM and CTR, as VSSM.
 *
 * One key, one mode (issue 15 H5). CTR decryption takes the caller's IV, so
 * whoever may decrypt with a key in CTR gets AES_K(x) for any x; CBC and ECB
 * decryption give AES_K^-1(x), ECB encryption AES_K(x). With those blocks an
 * AES-GCM ciphertext is forged for any plaintext and associated data (the tag
 * is GHASH under H = AES_K(0^128), masked by AES_K(J0): SP 800-38D §7.1), so a
 * key that serves GCM must never serve another mode. Hence:
 * - An AEAD key (aes*-gcm: /v1, transit, KMS) serves GCM only here, which is
 *   its own AEAD with empty associated data, the same function /v1 runs.
 * - The other modes need a raw key (aes*-raw, des, des-ede3), which no AEAD
 *   API accepts (keys/operations/encrypt.ts refuses kind 'block').
 * - Within a raw key each mode runs under its own subkey, HKDF-SHA-256 of the
 *   key with the cipher and mode in the info (RFC 5869), so the CTR oracle of
 *   a raw key forges nothing in its GCM either. The exception is material
 *   brought from elsewhere (a version recorded `imported`: VSSM's injectkey,
 *   /v1 import, import_version; decided per version, so a version generated
 *   by rotating an injected key gets subkeys): it is used as is in every mode, because the data it must read was made
 *   that way by VSSM, whose keys serve every mode. Such a key is exactly as
 *   strong as it was on VSSM (a caller who may decrypt CTR with it can forge
 *   its GCM output) and no stronger; docs/compat.md#vssm says so.
 *
 * Only GCM authenticates. DES, Triple DES and ECB need a key created with
 * legacy: true. Every decryption failure (length, padding, tag) is
 * KH_DECRYPT_FAILED with one message; a caller allowed to decrypt learns
 * nothing from a padding check that it could not learn by decrypting.
 */
import { KeyholdError } from '../../errors.js';
import { aeadDecrypt, aeadEncrypt, randomNonce } from '../../crypto/aead/aead.js';
import { aesGcm } from '../../crypto/aead/node-aead.js';
import { blockBytes, blockDecrypt, blockEncrypt, pkcs7Pad, pkcs7Unpad, type BlockCipherName } from '../../crypto/block-cipher.js';
import { concatBytes, utf8 } from '../../crypto/bytes.js';
import { hkdf } from '../../crypto/hkdf.js';
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
/** HKDF info prefix of a raw key's per-mode subkeys; the cipher and mode follow ("aes/ctr"). Never change it: it names stored keys' subkeys. */
const SUBKEY_INFO = 'keyhold raw block cipher subkey v1 ';

const NAMES: Readonly<Record<RawCipher, string>> = { aes: 'AES', des: 'DES', 'des-ede3': '3DES' };

/** The name VSSM gives the cipher and mode, e.g. AES/CTR. */
const algorithmName = (spec: RawCipherSpec): string => `${NAMES[spec.cipher]}/${spec.mode.toUpperCase()}`;

/**
 * The key for `spec`, after every check: the AEAD key itself for AES/GCM on
 * an AES-GCM key, else the raw key's subkey for this cipher and mode (the raw
 * material itself for imported keys, see the header). `wipe` says whether the
 * caller must zero it (a derived subkey) or not (the cached key material).
 */
function material(key: ManagedKey, spec: RawCipherSpec): { secret: Uint8Array; version: number; wipe: boolean } {
  key.checkUsable();
  checkUsage(key.record, 'encrypt-decrypt');
  const ks = key.spec;
  const type = key.record.type;
  if (ks.kind === 'aead' && ks.aead === aesGcm && spec.cipher === 'aes') {
    if (spec.mode !== 'gcm')
      throw new KeyholdError(
        'KH_KEY_OPERATION_UNSUPPORTED',
        `${algorithmName(spec)} needs a raw AES key (aes128-raw, aes192-raw, aes256-raw, as VSSM's generatekey and injectkey make them); ${type} is an AEAD key and serves GCM only, so that no other mode can forge or open its ciphertexts`,
      );
    const version = current(key);
    return { secret: secretOf(key, version), version, wipe: false };
  }
  if (ks.kind !== 'block' || ks.cipher !== spec.cipher) {
    const what = spec.cipher === 'aes' ? 'an AES key (aes128-gcm, aes192-gcm, aes256-gcm for GCM; aes128-raw, aes192-raw, aes256-raw for every mode)' : `a ${spec.cipher} key`;
    throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${NAMES[spec.cipher]} needs ${what}; this key is ${type}`);
  }
  if (spec.mode === 'gcm' && spec.cipher !== 'aes') throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'GCM is a mode of AES only');
  if ((spec.cipher !== 'aes' || spec.mode === 'ecb') && !key.record.legacy)
    throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', `${spec.cipher === 'aes' ? 'ECB' : NAMES[spec.cipher]} is allowed only on keys created with legacy: true (use AES/GCM)`);
  const version = current(key);
  const secret = secretOf(key, version);
  if (importedVersion(key, version)) return { secret, version, wipe: false };
  return { secret: hkdf('sha256', secret, new Uint8Array(0), utf8(`${SUBKEY_INFO}${spec.cipher}/${spec.mode}`), secret.length), version, wipe: true };
}

/**
 * Whether a version's material was imported (used as given, for VSSM's
 * ciphertexts) rather than generated here (per-mode subkeys). Decided per
 * version (review of issue 15, finding 13): rotating an injected key generates
 * Keyhold's own material. Versions stored before the flag follow the key's origin.
 */
function importedVersion(key: ManagedKey, version: number): boolean {
  return key.record.versions.find((v) => v.version === version)?.imported ?? key.record.origin === 'imported';
}

function current(key: ManagedKey): number {
  const version = key.encryptionVersion();
  key.checkDecryptionVersion(version);
  return version;
}

function secretOf(key: ManagedKey, version: number): Uint8Array {
  const secret = key.handles(version).secret;
  if (secret === undefined) throw new KeyholdError('KH_KEY_VERSION_INVALID');
  return secret;
}

/**
 * Encrypts `plaintext` with the key's current version.
 * @throws KeyholdError KH_KEY_OPERATION_UNSUPPORTED (cipher does not fit the key), KH_KEY_LEGACY_REQUIRED, KH_INPUT_INVALID (NoPadding input not a whole number of blocks)
 */
export function rawEncrypt(key: ManagedKey, spec: RawCipherSpec, plaintext: Uint8Array): { output: Uint8Array; version: number } {
  const size = blockBytes(spec.cipher);
  const data = spec.padding === 'pkcs7' ? pkcs7Pad(plaintext, size) : plaintext;
  const { secret, version, wipe } = material(key, spec);
  try {
    if ((spec.mode === 'ecb' || spec.mode === 'cbc') && data.length % size !== 0)
      throw new KeyholdError('KH_INPUT_INVALID', `${spec.mode.toUpperCase()} with NoPadding needs input of a multiple of ${size} bytes`);
    if (spec.mode === 'gcm') return { output: aeadEncrypt(aesGcm, secret, data, NO_AAD), version };
    const iv = spec.mode === 'ecb' ? undefined : randomNonce(size);
    const body = blockEncrypt(spec.cipher, secret, spec.mode, iv, data);
    return { output: iv === undefined ? body : concatBytes(iv, body), version };
  } finally {
    if (wipe) secret.fill(0);
  }
}

/**
 * Decrypts what rawEncrypt produced (or VSSM did) with the key's current version.
 * @throws KeyholdError KH_DECRYPT_FAILED for any failure of the input (length, padding, tag), and the checks of rawEncrypt
 */
export function rawDecrypt(key: ManagedKey, spec: RawCipherSpec, input: Uint8Array): { plaintext: Uint8Array; version: number } {
  key.checkNoReleasePolicy();
  const { secret, version, wipe } = material(key, spec);
  const size = blockBytes(spec.cipher);
  let data: Uint8Array | undefined;
  try {
    if (spec.mode === 'gcm') {
      data = input.length < GCM_NONCE + GCM_TAG ? undefined : aeadDecrypt(aesGcm, secret, input, NO_AAD);
    } else {
      const ivBytes = spec.mode === 'ecb' ? 0 : size;
      const body = input.subarray(ivBytes);
      const whole = spec.mode === 'ctr' || body.length % size === 0;
      data = input.length < ivBytes || !whole ? undefined : blockDecrypt(spec.cipher, secret, spec.mode, ivBytes === 0 ? undefined : input.subarray(0, ivBytes), body);
    }
  } finally {
    if (wipe) secret.fill(0);
  }
  if (data === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  if (spec.padding === 'none') return { plaintext: data, version };
  const plaintext = pkcs7Unpad(data, size);
  data.fill(0);
  if (plaintext === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  return { plaintext, version };
}
