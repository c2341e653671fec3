/**
 * The seal configuration, stored in the clear at `core/seal-config` (it holds
 * no secret: type, share count, threshold, the HSM key label or the enclave
 * measurements the root key is bound to). Its exact bytes are bound into the
 * AAD of the wrapped root key, so editing it on disk makes unsealing fail
 * rather than weakening the threshold.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { KeyholdError } from '../errors.js';

export const SEAL_CONFIG_PATH = 'core/seal-config';
export const ROOT_KEY_PATH = 'core/root-key';
/** With an automatic seal: proves a reconstructed recovery key (AES-GCM of a fixed label under it). */
export const RECOVERY_CHECK_PATH = 'core/recovery-check';
/**
 * With the enclave seal only: the root key under the recovery key. Measurements
 * change with every build, so a recovery quorum must be able to re-bind the root
 * key to a new build (or migrate it to Shamir) without the old one running.
 */
export const RECOVERY_ROOT_KEY_PATH = 'core/recovery-root-key';

/** A PCR value: 32 to 64 bytes (48 on Nitro and in the simulated enclave), lowercase hex. */
const PcrHex = Type.String({ pattern: '^(?:[0-9a-f]{2}){32,64}$' });

export const SealConfigSchema = Type.Object(
  {
    version: Type.Literal(1),
    /** shamir: shares/threshold are unseal shares; pkcs11, enclave: they are recovery shares, the HSM or the enclave wraps the root key. */
    type: Type.Union([Type.Literal('shamir'), Type.Literal('pkcs11'), Type.Literal('enclave')]),
    shares: Type.Integer({ minimum: 1, maximum: 255 }),
    threshold: Type.Integer({ minimum: 1, maximum: 255 }),
    initializedAt: Type.String(),
    hsm: Type.Optional(Type.Object({ keyLabel: Type.String(), mechanism: Type.Union([Type.Literal('aes-gcm'), Type.Literal('rsa-oaep')]) }, { additionalProperties: false })),
    /** With the enclave seal: the measurements (lowercase hex) the root key is bound to. */
    enclave: Type.Optional(Type.Object({ pcr0: PcrHex, pcr1: PcrHex, pcr2: PcrHex }, { additionalProperties: false })),
    migratedAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type SealConfig = Static<typeof SealConfigSchema>;

export function encodeSealConfig(config: SealConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(config));
}

/** @throws KeyholdError KH_STORAGE_INTEGRITY when the stored record is not a seal config. */
export function decodeSealConfig(bytes: Uint8Array): SealConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the seal configuration record is malformed', { cause: e });
  }
  if (!Value.Check(SealConfigSchema, parsed)) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the seal configuration record is malformed');
  if (parsed.type === 'enclave' && parsed.enclave === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the seal configuration record names the enclave seal but no measurements');
  return parsed;
}
