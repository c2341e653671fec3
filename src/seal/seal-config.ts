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
import { validateShamirParams } from '../crypto/shamir.js';

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

/**
 * Reads the stored seal config and checks every rule its writer enforced, so
 * that an edited record (it is stored in the clear) is refused as what it is,
 * an integrity failure, before anything acts on it: a threshold lowered below
 * what the shares were split for would otherwise combine too few shares into
 * a wrong key of a wrong length (KH_INTERNAL), and one raised above the share
 * count would wait forever. Edits that keep every rule still fail at unseal:
 * the exact bytes are the root key's AAD.
 * @throws KeyholdError KH_STORAGE_INTEGRITY when the stored record is not a valid seal config.
 */
export function decodeSealConfig(bytes: Uint8Array): SealConfig {
  const altered = (why: string, cause?: unknown) =>
    new KeyholdError('KH_STORAGE_INTEGRITY', `the seal configuration record (core/seal-config) ${why}: it was altered or damaged; restore it from a backup`, cause === undefined ? undefined : { cause });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw altered('is not JSON', e);
  }
  if (!Value.Check(SealConfigSchema, parsed)) throw altered('is malformed');
  try {
    validateShamirParams(parsed.shares, parsed.threshold);
  } catch (e) {
    throw altered(`has a threshold of ${parsed.threshold} for ${parsed.shares} shares, which init never writes`, e);
  }
  if ((parsed.type === 'pkcs11') !== (parsed.hsm !== undefined)) throw altered(parsed.hsm === undefined ? 'names the pkcs11 seal but no HSM key' : `names an HSM key but the ${parsed.type} seal`);
  if ((parsed.type === 'enclave') !== (parsed.enclave !== undefined))
    throw altered(parsed.enclave === undefined ? 'names the enclave seal but no measurements' : `names enclave measurements but the ${parsed.type} seal`);
  return parsed;
}
