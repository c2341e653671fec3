/**
 * Entropy augmentation: every draw combines the OS CSPRNG with bytes from an
 * external source (the HSM's C_GenerateRandom), so key material stays
 * unpredictable if either one is weak or compromised, as long as the other
 * is not:
 *
 *   out = HKDF-SHA-512(ikm = os(n) || external(n), salt = "keyhold-entropy-v1", info = purpose, L = n)
 *
 * HKDF's extract step is a randomness extractor over the concatenation, so
 * the output depends on both inputs. When the external source fails, a
 * `required` mixer fails closed (KH_ENTROPY_UNAVAILABLE: nothing is
 * generated); otherwise it degrades to the OS bytes alone and counts the
 * failure.
 */
import { randomBytes } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { hkdf } from './hkdf.js';
import { concatBytes, utf8, wipe } from './bytes.js';
import type { EntropySource } from './random.js';

const SALT = utf8('keyhold-entropy-v1');
/** HKDF-SHA-512 yields at most 255 * 64 bytes per call. */
const MAX_CHUNK = 255 * 64;

export interface MixerStats {
  /** Bytes obtained from the external source. */
  externalBytes: number;
  /** Draws where the external source failed. */
  externalFailures: number;
}

export interface MixerOptions {
  /** The external source (e.g. the HSM RNG); may throw. */
  external: (length: number) => Uint8Array;
  /** Fail closed when the external source fails (else: OS bytes alone). */
  required: boolean;
  /** The OS source; node:crypto by default (tests inject to prove both inputs matter). */
  os?: (length: number) => Uint8Array;
  onFailure?: (error: unknown) => void;
}

export class EntropyMixer implements EntropySource {
  readonly stats: MixerStats = { externalBytes: 0, externalFailures: 0 };
  readonly #options: MixerOptions;
  readonly #os: (length: number) => Uint8Array;

  constructor(options: MixerOptions) {
    this.#options = options;
    this.#os = options.os ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  bytes(length: number, purpose: string): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += MAX_CHUNK) {
      const n = Math.min(MAX_CHUNK, length - offset);
      out.set(this.#chunk(n, purpose), offset);
    }
    return out;
  }

  #chunk(n: number, purpose: string): Uint8Array {
    const os = this.#os(n);
    let external: Uint8Array | undefined;
    try {
      external = this.#options.external(n);
      if (external.length !== n) throw new Error(`the external source returned ${external.length} bytes, not ${n}`);
      this.stats.externalBytes += n;
    } catch (e) {
      this.stats.externalFailures++;
      this.#options.onFailure?.(e);
      external = undefined;
      if (this.#options.required) {
        wipe(os);
        throw new KeyholdError('KH_ENTROPY_UNAVAILABLE', undefined, { cause: e });
      }
    }
    const ikm = external === undefined ? os : concatBytes(os, external);
    const result = hkdf('sha512', ikm, SALT, utf8(purpose), n);
    wipe(os, external, ikm);
    return result;
  }
}
