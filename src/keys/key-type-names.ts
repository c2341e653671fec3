/**
 * Key type names and the limits callers see, without the algorithm code:
 * the CLI and schemas import this, so they do not load every cipher.
 */
export const KEY_TYPE_NAMES = [
  'aes128-gcm',
  'aes192-gcm',
  'aes256-gcm',
  'aes256-gcm-siv',
  'chacha20-poly1305',
  'xchacha20-poly1305',
  'hmac-sha256',
  'hmac-sha384',
  'hmac-sha512',
  'hmac-any',
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'ecdsa-secp256k1',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'ml-dsa-44',
  'ml-dsa-65',
  'ml-dsa-87',
  'x25519',
  'ml-kem-768',
  'ml-kem-1024',
] as const;

/**
 * Keys generated in, and never leaving, the HSM of `seal.pkcs11`
 * (src/keys/hsm/). Kept apart from KEY_TYPE_NAMES, the types every vault can
 * create, so code that walks that list needs no HSM.
 */
export const HSM_KEY_TYPE_NAMES = ['hsm-aes256-gcm', 'hsm-ecdsa-p256', 'hsm-ecdsa-p384', 'hsm-rsa-2048', 'hsm-rsa-3072'] as const;

/**
 * Raw DES and Triple DES keys, for migrating data encrypted by other systems
 * (VSSM's DES and 3DES): only keys created with legacy: true, used only
 * through the raw block cipher operation (keys/operations/block-cipher.ts).
 * Kept apart from KEY_TYPE_NAMES, the types a key may be created as without
 * a flag, so code that walks that list never meets them.
 */
export const LEGACY_KEY_TYPE_NAMES = ['des', 'des-ede3'] as const;

/**
 * Raw AES keys, as VSSM has them: AES in ECB (legacy), CBC, CTR and GCM
 * through the raw block cipher operation only (keys/operations/block-cipher.ts),
 * never an AEAD key of /v1, transit or KMS. VSSM's generatekey and injectkey
 * make them. A key serves one mode only, so that an unauthenticated mode whose
 * IV the caller picks (CTR) is never an AES oracle for another mode's
 * ciphertexts (issue 15 H5): AEAD keys refuse every mode but GCM, and these
 * keys exist for the rest. Kept apart from KEY_TYPE_NAMES, whose types all
 * encrypt, sign or MAC through /v1.
 */
export const RAW_AES_KEY_TYPE_NAMES = ['aes128-raw', 'aes192-raw', 'aes256-raw'] as const;

/** Every type the API accepts: software types, legacy ones, raw AES ones, then HSM-backed ones. */
export const ALL_KEY_TYPE_NAMES = [...KEY_TYPE_NAMES, ...LEGACY_KEY_TYPE_NAMES, ...RAW_AES_KEY_TYPE_NAMES, ...HSM_KEY_TYPE_NAMES] as const;

export type SoftwareKeyType = (typeof KEY_TYPE_NAMES)[number] | LegacyKeyType | RawAesKeyType;
export type RawAesKeyType = (typeof RAW_AES_KEY_TYPE_NAMES)[number];
export type LegacyKeyType = (typeof LEGACY_KEY_TYPE_NAMES)[number];
export type HsmKeyType = (typeof HSM_KEY_TYPE_NAMES)[number];
export type KeyType = SoftwareKeyType | HsmKeyType;
export const DEFAULT_KEY_TYPE: KeyType = 'aes256-gcm';

export function isKeyType(name: string): name is KeyType {
  return (ALL_KEY_TYPE_NAMES as readonly string[]).includes(name);
}

/** Types that exist only for legacy data: created and imported only with legacy: true. */
export function isLegacyKeyType(name: string): name is LegacyKeyType {
  return (LEGACY_KEY_TYPE_NAMES as readonly string[]).includes(name);
}

export function isHsmKeyType(name: string): name is HsmKeyType {
  return (HSM_KEY_TYPE_NAMES as readonly string[]).includes(name);
}

/** Scheduled deletion waits this many days (as KMS). */
export const MIN_DELETION_DAYS = 7;
export const MAX_DELETION_DAYS = 30;
