/** Builds the configured attestation provider (enclave.provider). */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KeyholdError } from '../../errors.js';
import { AWS_NITRO_ROOT_G1 } from '../../attestation/nitro/aws-root.js';
import type { KeyholdConfig } from '../../config/config-schema.js';
import type { AttestationProvider } from '../../attestation/provider.js';
import { createSimulatedProvider, type SimulatedProvider } from '../../attestation/simulated/simulated-provider.js';
import { createNsmProvider } from '../../attestation/nsm/nsm-provider.js';

/** Where the simulated root lives unless configured: beside the database. */
export function simulatedRootDir(config: KeyholdConfig): string {
  return resolve(config.enclave.simulated.rootDir ?? join(dirname(config.storage.path), 'enclave-sim'));
}

export async function createAttestationProvider(config: KeyholdConfig): Promise<AttestationProvider | undefined> {
  switch (config.enclave.provider) {
    case 'none':
      return undefined;
    case 'simulated':
      return createSimulatedProvider({ rootDir: simulatedRootDir(config) });
    case 'nsm':
      return createNsmProvider({ helperPath: config.enclave.nsm.helperPath, timeoutMs: config.enclave.nsm.timeoutMs });
  }
}

/**
 * Roots trusted for documents that callers present (recipients, later workload
 * logins): the AWS Nitro root always; configured PEM files; this node's own
 * simulated root only with enclave.trustSimulatedRoot (docs/protocols.md §2).
 */
export function trustedAttestationRoots(config: KeyholdConfig, provider: AttestationProvider | undefined): X509Certificate[] {
  const roots = [AWS_NITRO_ROOT_G1];
  for (const file of config.enclave.trustedRoots) {
    try {
      roots.push(new X509Certificate(readFileSync(file)));
    } catch (e) {
      throw new KeyholdError('KH_CONFIG_INVALID', `enclave.trustedRoots: ${file} is not a readable PEM certificate`, { cause: e });
    }
  }
  if (config.enclave.trustSimulatedRoot) {
    if (provider?.kind !== 'simulated') throw new KeyholdError('KH_CONFIG_INVALID', 'enclave.trustSimulatedRoot needs enclave.provider: simulated');
    roots.push(new X509Certificate((provider as SimulatedProvider).rootCertificatePem));
  }
  return roots;
}
