/** Builds the configured attestation provider (enclave.provider). */
import { dirname, join, resolve } from 'node:path';
import type { KeyholdConfig } from '../../config/config-schema.js';
import type { AttestationProvider } from '../../attestation/provider.js';
import { createSimulatedProvider } from '../../attestation/simulated/simulated-provider.js';
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
