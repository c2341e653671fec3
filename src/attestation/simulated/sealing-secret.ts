/**
 * The simulated enclave's sealing secret: 32 random bytes in the simulated
 * root folder (file `sealing-secret`, mode 0600, beside root-key.pem),
 * created on first use. It plays the part of the hardware secret from which a
 * real TEE derives sealing keys (SGX EGETKEY, an SEV-SNP VMPCK): the enclave
 * seal mixes it with the running build's measurements, so the key it derives
 * changes whenever the code does.
 *
 * Like the simulated root key, it is a development stand-in: whoever can read
 * the file (and knows the PCRs of the build, which are public) can derive the
 * key. Nitro offers no such secret, which is why the enclave seal refuses the
 * nsm provider.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyholdError } from '../../errors.js';

export const SEALING_SECRET_FILE = 'sealing-secret';
export const SEALING_SECRET_BYTES = 32;

function readSecret(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size !== SEALING_SECRET_BYTES) {
      throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', `the simulated enclave's sealing secret ${path} is not a ${SEALING_SECRET_BYTES}-byte file`);
    }
    // Anyone who can read it can derive the sealing key: refuse a file that others may read, as ssh does.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', `the simulated enclave's sealing secret ${path} is accessible to others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    const secret = new Uint8Array(SEALING_SECRET_BYTES);
    if (readSync(fd, secret, 0, SEALING_SECRET_BYTES, 0) !== SEALING_SECRET_BYTES) {
      throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', `the simulated enclave's sealing secret ${path} could not be read whole`);
    }
    return secret;
  } finally {
    closeSync(fd);
  }
}

/**
 * The sealing secret of the simulated enclave rooted at `dir`, created (0600,
 * exclusively, so two starting nodes cannot each write one) when missing.
 * The caller wipes the returned bytes when done.
 * @throws KeyholdError KH_ATTESTATION_PROVIDER_FAILED when the file cannot be created or read, or is not a private 32-byte file.
 */
export function loadOrCreateSealingSecret(dir: string): Uint8Array {
  const path = join(dir, SEALING_SECRET_FILE);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fresh = randomBytes(SEALING_SECRET_BYTES);
    try {
      writeFileSync(path, fresh, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fresh.fill(0);
    }
    return readSecret(path);
  } catch (e) {
    if (e instanceof KeyholdError) throw e;
    throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', `the simulated enclave's sealing secret ${path} could not be created or read`, { cause: e });
  }
}
