/**
 * KMS key specs, key usages and algorithm names, and how they map onto
 * Keyhold key types and usages (docs/compat.md has the same tables). Keys
 * created through /v1 or Vault transit appear through KMS under the closest
 * KMS spec; types KMS has no name for appear as KEYHOLD_<TYPE>.
 */
import type { KeyType } from '../../../keys/key-type-names.js';
import { usagesOf, type KeyUsage } from '../../../keys/key-usage.js';
import type { KeyRecord } from '../../../keys/key-record.js';
import type { HashName } from '../../../crypto/signature/signature-scheme.js';
import { DATA_KEY_PAIR_TYPES, type DataKeyPairType } from '../../../keys/operations/datakey-pair.js';

export type KmsKeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT' | 'ENCAPSULATE_DECAPSULATE';

export const KMS_USAGE: Readonly<Record<KeyUsage, KmsKeyUsage>> = {
  'encrypt-decrypt': 'ENCRYPT_DECRYPT',
  'sign-verify': 'SIGN_VERIFY',
  'generate-verify-mac': 'GENERATE_VERIFY_MAC',
  'key-agreement': 'KEY_AGREEMENT',
  'encapsulate-decapsulate': 'ENCAPSULATE_DECAPSULATE',
};
export const KEYHOLD_USAGE: Readonly<Record<string, KeyUsage>> = Object.fromEntries(Object.entries(KMS_USAGE).map(([k, v]) => [v, k as KeyUsage]));

/** KeySpec values CreateKey accepts, and the Keyhold type each creates. */
export const CREATABLE_SPECS: Readonly<Record<string, KeyType>> = {
  SYMMETRIC_DEFAULT: 'aes256-gcm',
  RSA_2048: 'rsa-2048',
  RSA_3072: 'rsa-3072',
  RSA_4096: 'rsa-4096',
  ECC_NIST_P256: 'ecdsa-p256',
  ECC_NIST_P384: 'ecdsa-p384',
  ECC_NIST_P521: 'ecdsa-p521',
  ECC_SECG_P256K1: 'ecdsa-secp256k1',
  ECC_NIST_EDWARDS25519: 'ed25519',
  HMAC_256: 'hmac-sha256',
  HMAC_384: 'hmac-sha384',
  HMAC_512: 'hmac-sha512',
  ML_DSA_44: 'ml-dsa-44',
  ML_DSA_65: 'ml-dsa-65',
  ML_DSA_87: 'ml-dsa-87',
};

/** Specs KMS defines that Keyhold does not create, with the reason given to the caller. */
export const UNSUPPORTED_SPECS: Readonly<Record<string, string>> = {
  HMAC_224: 'HMAC_224 is not supported: Keyhold has no HMAC-SHA-224 keys; use HMAC_256',
  SM2: 'SM2 keys are not supported',
  ML_KEM_512: 'ML-KEM keys are not available through the KMS API (Encapsulate/Decapsulate are not implemented); use /v1',
  ML_KEM_768: 'ML-KEM keys are not available through the KMS API (Encapsulate/Decapsulate are not implemented); use /v1',
  ML_KEM_1024: 'ML-KEM keys are not available through the KMS API (Encapsulate/Decapsulate are not implemented); use /v1',
};

/** The KMS KeySpec a Keyhold type shows as. */
export function keySpecOf(type: KeyType): string {
  for (const [spec, t] of Object.entries(CREATABLE_SPECS)) if (t === type) return spec;
  if (isSymmetric(type)) return 'SYMMETRIC_DEFAULT';
  switch (type) {
    case 'hsm-rsa-2048':
      return 'RSA_2048';
    case 'hsm-rsa-3072':
      return 'RSA_3072';
    case 'hsm-ecdsa-p256':
      return 'ECC_NIST_P256';
    case 'hsm-ecdsa-p384':
      return 'ECC_NIST_P384';
    case 'ml-kem-768':
      return 'ML_KEM_768';
    case 'ml-kem-1024':
      return 'ML_KEM_1024';
    default:
      return `KEYHOLD_${type.toUpperCase().replace(/-/g, '_')}`;
  }
}

/**
 * Symmetric encryption keys: what KMS calls SYMMETRIC_DEFAULT (every Keyhold
 * AEAD type, software or HSM). Not the raw AES keys (aes*-raw, VSSM's), which
 * no KMS operation may use (one key, one mode: keys/operations/block-cipher.ts).
 */
export function isSymmetric(type: KeyType): boolean {
  return (type.startsWith('aes') && !type.endsWith('-raw')) || type.startsWith('chacha') || type.startsWith('xchacha') || type === 'hsm-aes256-gcm';
}

export function isRsa(type: KeyType): boolean {
  return type.startsWith('rsa-') || type.startsWith('hsm-rsa-');
}

/** The usage a key shows as: its recorded one, else its type's default. */
export function usageOf(record: Pick<KeyRecord, 'type' | 'usage'>): KeyUsage {
  return record.usage ?? usagesOf(record.type)[0]!;
}

export interface SigningAlgorithm {
  readonly hash: HashName;
  readonly padding?: 'pss' | 'pkcs1v15';
}

/** SigningAlgorithm -> the keys layer's options. */
export const SIGNING_ALGORITHMS: Readonly<Record<string, SigningAlgorithm>> = {
  RSASSA_PSS_SHA_256: { hash: 'sha256', padding: 'pss' },
  RSASSA_PSS_SHA_384: { hash: 'sha384', padding: 'pss' },
  RSASSA_PSS_SHA_512: { hash: 'sha512', padding: 'pss' },
  RSASSA_PKCS1_V1_5_SHA_256: { hash: 'sha256', padding: 'pkcs1v15' },
  RSASSA_PKCS1_V1_5_SHA_384: { hash: 'sha384', padding: 'pkcs1v15' },
  RSASSA_PKCS1_V1_5_SHA_512: { hash: 'sha512', padding: 'pkcs1v15' },
  ECDSA_SHA_256: { hash: 'sha256' },
  ECDSA_SHA_384: { hash: 'sha384' },
  ECDSA_SHA_512: { hash: 'sha512' },
  ED25519_SHA_512: { hash: 'sha512' },
  ML_DSA_SHAKE_256: { hash: 'sha256' },
};

/** Signing algorithms of a key type (KMS pairs each curve with one digest). */
export function signingAlgorithmsOf(type: KeyType): string[] {
  if (type.startsWith('rsa-')) return ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'];
  if (type.startsWith('hsm-rsa-')) return ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'];
  if (type === 'ecdsa-p256' || type === 'ecdsa-secp256k1' || type === 'hsm-ecdsa-p256') return ['ECDSA_SHA_256'];
  if (type === 'ecdsa-p384' || type === 'hsm-ecdsa-p384') return ['ECDSA_SHA_384'];
  if (type === 'ecdsa-p521') return ['ECDSA_SHA_512'];
  if (type === 'ed25519') return ['ED25519_SHA_512'];
  if (type.startsWith('ml-dsa-')) return ['ML_DSA_SHAKE_256'];
  return [];
}

export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;

export function encryptionAlgorithmsOf(type: KeyType): string[] {
  if (isSymmetric(type)) return ['SYMMETRIC_DEFAULT'];
  if (type.startsWith('rsa-')) return ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];
  return [];
}

export const MAC_ALGORITHMS: Readonly<Record<string, KeyType>> = { HMAC_SHA_256: 'hmac-sha256', HMAC_SHA_384: 'hmac-sha384', HMAC_SHA_512: 'hmac-sha512' };

/** KeyPairSpec (GenerateDataKeyPair) -> the pair type generated: the CreateKey specs whose type the keys layer makes data key pairs of. */
export const DATA_KEY_PAIR_SPECS: Readonly<Record<string, DataKeyPairType>> = Object.fromEntries(
  Object.entries(CREATABLE_SPECS).filter((entry): entry is [string, DataKeyPairType] => (DATA_KEY_PAIR_TYPES as readonly string[]).includes(entry[1])),
);

/** The algorithm lists of DescribeKey and GetPublicKey for a key, by its usage. */
export function algorithmFields(record: Pick<KeyRecord, 'type' | 'usage'>): Record<string, string[]> {
  const usage = usageOf(record);
  const type = record.type;
  switch (usage) {
    case 'encrypt-decrypt':
      return { EncryptionAlgorithms: encryptionAlgorithmsOf(type) };
    case 'sign-verify':
      return { SigningAlgorithms: signingAlgorithmsOf(type) };
    case 'generate-verify-mac':
      return { MacAlgorithms: Object.entries(MAC_ALGORITHMS).filter(([, t]) => t === type).map(([a]) => a) };
    case 'key-agreement':
      return { KeyAgreementAlgorithms: ['ECDH'] };
    case 'encapsulate-decapsulate':
      return { EncapsulationAlgorithms: ['ML_KEM'] };
  }
}

/** The deprecated CustomerMasterKeySpec field: the same name, for the specs it knows. */
const CMK_SPECS = new Set(['SYMMETRIC_DEFAULT', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'HMAC_256', 'HMAC_384', 'HMAC_512']);
export function customerMasterKeySpecOf(spec: string): string | undefined {
  return CMK_SPECS.has(spec) ? spec : undefined;
}
