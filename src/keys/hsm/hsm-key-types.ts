/**
 * HSM-backed key types (as Vault's managed keys and OpenBao's external keys):
 * each version is one object, or one key pair, generated on the PKCS#11 token
 * of `seal.pkcs11`, CKA_SENSITIVE and not CKA_EXTRACTABLE, so its secret
 * never exists outside the HSM. Keyhold stores only where to find it (label
 * and CKA_ID) and, for key pairs, the public key.
 *
 * Mechanisms (PKCS#11 v2.40 current mechanisms): CKM_AES_GCM (§2.12.3),
 * CKM_ECDSA over a digest taken in node (§2.3.6), CKM_SHA256_RSA_PKCS and
 * CKM_SHA256_RSA_PKCS_PSS with MGF1-SHA-256 and a 32-byte salt (§2.1.7,
 * §2.1.12). Verification runs in node with the stored public key, through the
 * same signature schemes as software keys, so it needs no HSM round trip.
 */
import type { HashName, SignatureScheme } from '../../crypto/signature/signature-scheme.js';
import { ecdsaP256, ecdsaP384 } from '../../crypto/signature/ecdsa.js';
import { rsaScheme } from '../../crypto/signature/rsa.js';
import type { HsmKeyType } from '../key-type-names.js';

export type HsmKeySpec =
  | { readonly algorithm: 'aes-gcm'; readonly bits: 256 }
  | { readonly algorithm: 'ecdsa'; readonly curve: 'P-256' | 'P-384'; readonly scheme: SignatureScheme; readonly defaultHash: HashName; readonly hashes: readonly HashName[] }
  | { readonly algorithm: 'rsa'; readonly bits: 2048 | 3072; readonly scheme: SignatureScheme; readonly defaultHash: HashName; readonly hashes: readonly HashName[] };

// CKM_ECDSA signs any digest, but the client offers SHA-256 and SHA-384 only.
const EC_HASHES = ['sha256', 'sha384'] as const;
// CKM_SHA256_RSA_PKCS(_PSS): the digest is part of the mechanism.
const RSA_HASHES = ['sha256'] as const;

export const HSM_KEY_TYPES = {
  'hsm-aes256-gcm': { kind: 'hsm', hsm: { algorithm: 'aes-gcm', bits: 256 } },
  'hsm-ecdsa-p256': { kind: 'hsm', hsm: { algorithm: 'ecdsa', curve: 'P-256', scheme: ecdsaP256, defaultHash: 'sha256', hashes: EC_HASHES } },
  'hsm-ecdsa-p384': { kind: 'hsm', hsm: { algorithm: 'ecdsa', curve: 'P-384', scheme: ecdsaP384, defaultHash: 'sha384', hashes: EC_HASHES } },
  'hsm-rsa-2048': { kind: 'hsm', hsm: { algorithm: 'rsa', bits: 2048, scheme: rsaScheme(2048), defaultHash: 'sha256', hashes: RSA_HASHES } },
  'hsm-rsa-3072': { kind: 'hsm', hsm: { algorithm: 'rsa', bits: 3072, scheme: rsaScheme(3072), defaultHash: 'sha256', hashes: RSA_HASHES } },
} as const satisfies Record<HsmKeyType, { kind: 'hsm'; hsm: HsmKeySpec }>;
