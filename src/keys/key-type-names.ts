/**
 * Key type names and the limits callers see, without the algorithm code:
 * the CLI and schemas import this, so they do not load every cipher.
 */
export const KEY_TYPE_NAMES = [
  'aes128-gcm',
  'aes256-gcm',
  'aes256-gcm-siv',
  'chacha20-poly1305',
  'xchacha20-poly1305',
  'hmac-sha256',
  'hmac-sha384',
  'hmac-sha512',
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

export type KeyType = (typeof KEY_TYPE_NAMES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'aes256-gcm';

export function isKeyType(name: string): name is KeyType {
  return (KEY_TYPE_NAMES as readonly string[]).includes(name);
}

/** Scheduled deletion waits this many days (as KMS). */
export const MIN_DELETION_DAYS = 7;
export const MAX_DELETION_DAYS = 30;
