/**
 * The single entropy source for key generation.
 *
 * Everything that creates key material calls {@link entropy}. Today it is the
 * OS CSPRNG (node:crypto); the HSM issue replaces the active source with a
 * mixer (HKDF-SHA-512 over OS bytes and PKCS#11 C_GenerateRandom bytes), so
 * callers must never reach for `crypto.randomBytes` themselves.
 */
import { randomBytes } from 'node:crypto';

export interface EntropySource {
  /** Returns `length` fresh random bytes. @throws KeyholdError when a required source is unavailable (fail closed). */
  bytes(length: number): Uint8Array;
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
export function entropy(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0) throw new TypeError('length must be a non-negative integer');
  return active.bytes(length);
}
