/**
 * Key usage: what one key may be used for, fixed when it is created (as AWS
 * KMS's KeyUsage). Most types can do one thing only; RSA keys can encrypt or
 * sign, NIST curve keys can sign or agree on keys, and a key created for one
 * of these is refused the other by every API, not only the one that created
 * it. A record without `usage` (keys created through /v1 or Vault transit)
 * may do everything its type can.
 *
 * Kept apart from key-types.ts (names only, no algorithm code) because the
 * stored record schema imports it.
 */
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../errors.js';
import type { KeyType } from './key-type-names.js';

export const KEY_USAGES = ['encrypt-decrypt', 'sign-verify', 'generate-verify-mac', 'key-agreement', 'encapsulate-decapsulate'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];
export const KeyUsageSchema = Type.Union(KEY_USAGES.map((u) => Type.Literal(u)));

/** Every usage a type can serve, the first being the default. */
export function usagesOf(type: KeyType): readonly KeyUsage[] {
  if (type.startsWith('hmac-')) return ['generate-verify-mac'];
  if (type.startsWith('rsa-')) return ['encrypt-decrypt', 'sign-verify'];
  if (type === 'ecdsa-p256' || type === 'ecdsa-p384' || type === 'ecdsa-p521') return ['sign-verify', 'key-agreement'];
  if (type === 'x25519') return ['key-agreement'];
  if (type.startsWith('ml-kem-')) return ['encapsulate-decapsulate'];
  if (type === 'ed25519' || type === 'ecdsa-secp256k1' || type.startsWith('ml-dsa-') || type.startsWith('hsm-ecdsa-') || type.startsWith('hsm-rsa-')) return ['sign-verify'];
  return ['encrypt-decrypt'];
}

/**
 * The usage a key is created with: the requested one if the type can serve
 * it, else the type's default.
 * @throws KeyholdError KH_KEY_CONFIG_INVALID when the type cannot serve the requested usage
 */
export function checkUsageForType(type: KeyType, usage: KeyUsage | undefined): KeyUsage | undefined {
  if (usage === undefined) return undefined;
  if (!usagesOf(type).includes(usage)) throw new KeyholdError('KH_KEY_CONFIG_INVALID', `${type} keys cannot be created for ${usage}`);
  return usage;
}

/**
 * Refuses an operation outside the key's usage (a key without a recorded
 * usage may do whatever its type can; the operation checks that itself).
 * @throws KeyholdError KH_KEY_OPERATION_UNSUPPORTED
 */
export function checkUsage(record: { readonly type: KeyType; readonly usage?: KeyUsage | undefined }, wanted: KeyUsage): void {
  if (record.usage !== undefined && record.usage !== wanted) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `this key was created for ${record.usage}, not ${wanted}`);
}
