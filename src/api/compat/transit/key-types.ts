/**
 * Vault transit key type names <-> Keyhold key types, and the `data` of
 * Vault's key read (GET /transit/keys/:name). Types Vault does not have
 * (created through /v1) are shown under their Keyhold name.
 */
import { Type } from '@sinclair/typebox';
import type { KeyType } from '../../../keys/key-type-names.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { publicKey } from '../../../keys/operations/public-key.js';
import { badRequest } from './vault-shape.js';

export const VAULT_KEY_TYPES = [
  'aes128-gcm96',
  'aes256-gcm96',
  'chacha20-poly1305',
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'hmac',
] as const;
export type VaultKeyType = (typeof VAULT_KEY_TYPES)[number];

const TO_KEYHOLD: Readonly<Record<VaultKeyType, KeyType>> = {
  'aes128-gcm96': 'aes128-gcm',
  'aes256-gcm96': 'aes256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
  ed25519: 'ed25519',
  'ecdsa-p256': 'ecdsa-p256',
  'ecdsa-p384': 'ecdsa-p384',
  'ecdsa-p521': 'ecdsa-p521',
  'rsa-2048': 'rsa-2048',
  'rsa-3072': 'rsa-3072',
  'rsa-4096': 'rsa-4096',
  hmac: 'hmac-sha256',
};

/** Vault's hmac key_size (bytes) picks the Keyhold HMAC type, whose hash follows the size. */
const HMAC_BY_SIZE: Readonly<Record<number, KeyType>> = { 32: 'hmac-sha256', 48: 'hmac-sha384', 64: 'hmac-sha512' };

/** @throws TransitError 400 for a type Vault does not name, or a key_size Keyhold does not offer. */
export function keyholdType(vaultType: string, keySize: number | undefined): KeyType {
  if (!(VAULT_KEY_TYPES as readonly string[]).includes(vaultType)) throw badRequest(`unknown key type: ${vaultType}`, 'KH_KEY_TYPE_INVALID');
  if (keySize !== undefined) {
    if (vaultType !== 'hmac') throw badRequest('key_size is only valid for hmac keys', 'KH_KEY_OPTION_UNSUPPORTED');
    const t = HMAC_BY_SIZE[keySize];
    if (t === undefined) throw badRequest('key_size must be 32, 48 or 64 (HMAC-SHA-256, -384, -512)', 'KH_KEY_OPTION_UNSUPPORTED');
    return t;
  }
  return TO_KEYHOLD[vaultType as VaultKeyType];
}

export function vaultType(type: KeyType): string {
  if (type.startsWith('hmac-')) return 'hmac';
  if (type === 'aes128-gcm' || type === 'aes256-gcm') return `${type}96`;
  return type;
}

const PublicVersion = Type.Object({ creation_time: Type.String(), name: Type.String(), public_key: Type.String() }, { additionalProperties: false });

export const KeyInfo = Type.Object(
  {
    name: Type.String(),
    type: Type.String(),
    keys: Type.Record(Type.String(), Type.Union([Type.Integer(), PublicVersion])),
    latest_version: Type.Integer(),
    min_available_version: Type.Integer(),
    min_decryption_version: Type.Integer(),
    min_encryption_version: Type.Integer(),
    deletion_allowed: Type.Boolean(),
    derived: Type.Boolean(),
    exportable: Type.Boolean(),
    allow_plaintext_backup: Type.Boolean(),
    auto_rotate_period: Type.Integer(),
    imported_key: Type.Boolean(),
    supports_encryption: Type.Boolean(),
    supports_decryption: Type.Boolean(),
    supports_derivation: Type.Boolean(),
    supports_signing: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** Vault's public_key of a version: PEM for ECDSA and RSA, base64 of the raw key for Ed25519. */
export function vaultPublicKey(key: ManagedKey, version: number): string {
  if (key.record.type === 'ed25519') {
    const der = Buffer.from(String(publicKey(key, version, 'raw').publicKey), 'base64');
    // SPKI of Ed25519 is a 12-byte header then the 32-byte key (RFC 8410 §4).
    return der.subarray(der.length - 32).toString('base64');
  }
  return String(publicKey(key, version, 'pem').publicKey);
}

export function keyInfo(key: ManagedKey) {
  const r = key.record;
  const spec = key.spec;
  const asymmetric = spec.kind === 'signature' || (spec.kind === 'hsm' && spec.hsm.algorithm !== 'aes-gcm');
  const encrypts = spec.kind === 'aead' || (spec.kind === 'signature' && spec.rsa) || (spec.kind === 'hsm' && spec.hsm.algorithm === 'aes-gcm');
  const keys: Record<string, number | { creation_time: string; name: string; public_key: string }> = {};
  for (const v of r.versions) {
    if (v.version < r.minAvailableVersion) continue;
    const seconds = Math.floor(Date.parse(v.createdAt) / 1000);
    keys[String(v.version)] = asymmetric && v.publicKey !== undefined ? { creation_time: v.createdAt, name: vaultType(r.type), public_key: vaultPublicKey(key, v.version) } : seconds;
  }
  return {
    name: r.name,
    type: vaultType(r.type),
    keys,
    latest_version: r.latestVersion,
    min_available_version: r.minAvailableVersion === 1 ? 0 : r.minAvailableVersion,
    min_decryption_version: r.minDecryptionVersion,
    min_encryption_version: r.minEncryptionVersion,
    deletion_allowed: r.deletionAllowed === true,
    derived: false,
    exportable: r.exportable,
    allow_plaintext_backup: false,
    auto_rotate_period: r.autoRotatePeriodSeconds,
    imported_key: false,
    supports_encryption: encrypts,
    supports_decryption: encrypts,
    supports_derivation: false,
    supports_signing: asymmetric,
  };
}
