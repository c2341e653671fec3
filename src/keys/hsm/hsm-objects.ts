/**
 * The token objects behind HSM-backed key versions: generating one per
 * version, naming it for the PKCS#11 client, and destroying it.
 *
 * A version record holds `hsm: { label, id }` (CKA_LABEL and CKA_ID, shared
 * by the halves of a pair) and, for key pairs, the SPKI public key; never
 * secret material, which the token refuses to reveal (CKA_SENSITIVE, not
 * CKA_EXTRACTABLE). Labels are `keyhold:<128 random bits, hex>`: key names
 * are secret in Keyhold, while a token's object list is readable by anyone
 * who logs in to it.
 */
import { KeyholdError } from '../../errors.js';
import { entropy } from '../../crypto/random.js';
import { fromBase64Strict, toBase64, toHex } from '../../crypto/bytes.js';
import type { Pkcs11Client, Pkcs11Key } from '../../seal/pkcs11/pkcs11-client.js';
import type { KeyVersionRecord } from '../key-record.js';
import type { HsmKeySpec } from './hsm-key-types.js';

/** What the keys layer needs of the HSM connection (seal/pkcs11's HsmConnection is one). */
export interface HsmAccess {
  /** The logged-in client; rejects with an HSM error code (KH_HSM_UNAVAILABLE…) while the HSM is unreachable. */
  client(): Promise<Pkcs11Client>;
}

/** Stands in for the HSM when none is configured: every use is KH_HSM_UNAVAILABLE. */
export const NO_HSM: HsmAccess = {
  client: () => Promise.reject(new KeyholdError('KH_HSM_UNAVAILABLE', 'this key is held by an HSM, and no HSM is configured (seal.pkcs11)')),
};

const LABEL_PREFIX = 'keyhold:';

/** The token objects of one version: the key that works (secret or private) first, then a pair's public half. */
export function hsmObjectsOf(spec: HsmKeySpec, rec: KeyVersionRecord): { key: Pkcs11Key; publicKey?: Pkcs11Key } {
  const id = rec.hsm === undefined ? undefined : fromBase64Strict(rec.hsm.id);
  if (rec.hsm === undefined || id === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'an HSM-backed key version names no HSM object');
  const label = rec.hsm.label;
  if (spec.algorithm === 'aes-gcm') return { key: { label, keyClass: 'secret', keyType: 'AES', id } };
  const keyType = spec.algorithm === 'ecdsa' ? 'EC' : 'RSA';
  return { key: { label, keyClass: 'private', keyType, id }, publicKey: { label, keyClass: 'public', keyType, id } };
}

/**
 * Generates the token object(s) of a new version.
 * @throws KeyholdError KH_HSM_UNAVAILABLE, KH_HSM_OPERATION_FAILED or KH_HSM_TOKEN_FULL (nothing is left behind on the token then).
 */
export async function generateHsmVersion(client: Pkcs11Client, spec: HsmKeySpec, version: number, now: string): Promise<KeyVersionRecord> {
  const label = LABEL_PREFIX + toHex(entropy(16, 'hsm-object-label'));
  if (spec.algorithm === 'aes-gcm') {
    const key = await client.generateAesKey(label, { bits: spec.bits });
    return { version, createdAt: now, hsm: { label, id: toBase64(key.id) } };
  }
  const pair = spec.algorithm === 'ecdsa' ? await client.generateEcKeyPair(label, spec.curve) : await client.generateRsaKeyPair(label, spec.bits);
  const rec: KeyVersionRecord = { version, createdAt: now, hsm: { label, id: toBase64(pair.privateKey.id) } };
  try {
    return { ...rec, publicKey: toBase64(await client.publicKeySpki(pair.publicKey)) };
  } catch (e) {
    await destroyHsmVersion(client, spec, rec).catch(() => undefined);
    throw e;
  }
}

/**
 * Destroys a version's token objects (C_DestroyObject), the secret or
 * private half first. Objects already gone count as destroyed, so a retry
 * after a partial failure completes.
 * @throws KeyholdError KH_HSM_UNAVAILABLE or KH_HSM_OPERATION_FAILED when the HSM is unreachable or refuses.
 */
export async function destroyHsmVersion(client: Pkcs11Client, spec: HsmKeySpec, rec: KeyVersionRecord): Promise<void> {
  const { key, publicKey } = hsmObjectsOf(spec, rec);
  for (const object of publicKey === undefined ? [key] : [key, publicKey]) {
    try {
      await client.destroyObject(object);
    } catch (e) {
      if (!(e instanceof KeyholdError && e.code === 'KH_HSM_KEY_NOT_FOUND')) throw e;
    }
  }
}
