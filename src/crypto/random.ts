/**
 * The single entropy source for key generation.
 *
 * Everything that creates key material calls {@link entropy}. Today it is the
 * OS CSPRNG (node:crypto) unless entropy augmentation is configured, when the
 * composition root installs the mixer of entropy-mixer.ts (HKDF-SHA-512 over
 * OS bytes and PKCS#11 C_GenerateRandom bytes), so callers must never reach
 * for `crypto.randomBytes` themselves. (RSA prime generation happens inside
 * OpenSSL and cannot be fed from here.)
 */
import { randomBytes } from 'node:crypto';

export interface EntropySource {
  /**
   * Returns `length` fresh random bytes; `purpose` names what they become
   * (domain separation for a mixer).
   * @throws KeyholdError when a required source is unavailable (fail closed).
   */
  bytes(length: number, purpose: string): Uint8Array;
}

export const osEntropy: EntropySource = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

let active: EntropySource = osEntropy;

/** Installs the process-wide entropy source (the composition root does this once). */
export function setEntropySource(source: EntropySource): void {
  active = source;
}

/** Random bytes for key material, from the active entropy source. */
export function entropy(length: number, purpose = 'key-material'): Uint8Array {
  if (!Number.isInteger(length) || length < 0) throw new TypeError('length must be a non-negative integer');
  return active.bytes(length, purpose);
}
