/**
 * Attestation release policy of a key (or secret): the measurements a
 * recipient enclave must present before material is released to it, the way
 * AWS KMS key policies use kms:RecipientAttestation:PCR<n> and ImageSha384.
 * The checks run on a document that already verified (signature, chain to a
 * trusted root); each mismatch has its own code so an operator knows what to
 * fix, and each is a 403: the document is genuine, the enclave is not allowed.
 */
import { Type, type Static } from '@sinclair/typebox';
import { KeyholdError } from '../../errors.js';
import type { NitroAttestation } from '../../attestation/nitro/verify.js';

/** PCRs 0-15 can be pinned (Nitro's 16 PCRs; 16-31 are reserved). */
export const MAX_PCR_INDEX = 15;
export const DEFAULT_MAX_AGE_SECONDS = 300;
const PCR_HEX = /^(?:[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/;

export const ReleasePolicySchema = Type.Object(
  {
    pcrs: Type.Optional(
      Type.Record(Type.String({ maxLength: 2 }), Type.String({ maxLength: 128 }), {
        description: 'PCR index (0-15) -> required value (lowercase hex, 48 bytes for Nitro)',
        maxProperties: MAX_PCR_INDEX + 1,
      }),
    ),
    moduleIdPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "The recipient's module_id must start with this" })),
    allowDebug: Type.Optional(Type.Boolean({ description: 'Release to debug-mode enclaves (PCR0-2 all zero). Default false.' })),
    maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: `Oldest acceptable document (default ${DEFAULT_MAX_AGE_SECONDS} s)` })),
  },
  { additionalProperties: false },
);
export type ReleasePolicy = Static<typeof ReleasePolicySchema>;

/**
 * Validates and normalizes (lowercase hex) a policy given by a caller.
 * @throws KeyholdError KH_RELEASE_POLICY_INVALID
 */
export function checkReleasePolicy(policy: ReleasePolicy): ReleasePolicy {
  const pcrs: Record<string, string> = {};
  for (const [index, value] of Object.entries(policy.pcrs ?? {})) {
    if (!/^(?:[0-9]|1[0-5])$/.test(index)) throw new KeyholdError('KH_RELEASE_POLICY_INVALID', `PCR index ${index} is not 0-15`);
    const hex = value.toLowerCase();
    if (!PCR_HEX.test(hex)) throw new KeyholdError('KH_RELEASE_POLICY_INVALID', `PCR${index} is not hex of 32, 48 or 64 bytes`);
    pcrs[index] = hex;
  }
  return {
    ...(Object.keys(pcrs).length > 0 && { pcrs }),
    ...(policy.moduleIdPrefix !== undefined && { moduleIdPrefix: policy.moduleIdPrefix }),
    allowDebug: policy.allowDebug ?? false,
    maxAgeSeconds: policy.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
  };
}

/** Nitro debug mode reports PCR0-2 as all zeros (AWS: "in debug mode, PCRs 0, 1 and 2 are zeros"). */
export function isDebugEnclave(attestation: NitroAttestation): boolean {
  return [0, 1, 2].every((i) => {
    const v = attestation.pcrs.get(i);
    return v !== undefined && v.every((b) => b === 0);
  });
}

/**
 * @throws KeyholdError KH_RELEASE_DEBUG_REFUSED, KH_RELEASE_MODULE_MISMATCH,
 *   KH_RELEASE_PCR_MISMATCH, KH_RELEASE_STALE
 */
export function checkRelease(policy: ReleasePolicy | undefined, attestation: NitroAttestation, now: number): void {
  const maxAgeMs = (policy?.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000;
  if (now - attestation.timestamp > maxAgeMs) throw new KeyholdError('KH_RELEASE_STALE');
  if (policy === undefined) return;
  if (policy.allowDebug !== true && isDebugEnclave(attestation)) throw new KeyholdError('KH_RELEASE_DEBUG_REFUSED');
  if (policy.moduleIdPrefix !== undefined && !attestation.moduleId.startsWith(policy.moduleIdPrefix)) throw new KeyholdError('KH_RELEASE_MODULE_MISMATCH');
  for (const [index, hex] of Object.entries(policy.pcrs ?? {})) {
    const actual = attestation.pcrs.get(Number(index));
    if (actual === undefined || Buffer.from(actual).toString('hex') !== hex) {
      throw new KeyholdError('KH_RELEASE_PCR_MISMATCH', `the recipient's PCR${index} does not match the release policy`);
    }
  }
}
