/**
 * The `enclave` seal: the root key is wrapped by a key that only this build,
 * running in this enclave, can derive, so the node unseals itself at start
 * and a changed build cannot.
 *
 *   KEK = HKDF-SHA-256(ikm  = the enclave's sealing secret,
 *                      salt = PCR0 || PCR1 || PCR2 of the running build,
 *                      info = "keyhold enclave seal v1")
 *   core/root-key = 0x01 || AES-256-GCM(KEK, root key, AAD)   (nonce || ciphertext || tag)
 *
 * The seal configuration records the PCR values the root key was bound to
 * (`description`), and it is part of the AAD, so the record cannot be edited
 * to match another build. Before unwrapping, the seal manager compares them
 * with this build's (measurementMismatch) and says which PCR differs
 * (KH_SEAL_MEASUREMENT_MISMATCH) rather than reporting a failed decryption.
 *
 * Only the simulated enclave has a sealing secret (attestation/simulated/
 * sealing-secret.ts); the wiring refuses the nsm provider. The secret and the
 * measurements are passed in: this layer knows no configuration.
 */
import { KeyholdError } from '../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../crypto/aes-gcm.js';
import { concatBytes, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf } from '../crypto/hkdf.js';
import type { RootKeyWrapperOf } from './root-key-wrapper.js';

export const ENCLAVE_SEAL_INFO = 'keyhold enclave seal v1';
/** The PCRs the root key is bound to: on Nitro, the image, the kernel/bootstrap and the application. */
export const BOUND_PCRS = [0, 1, 2] as const;

export type EnclaveBinding = RootKeyWrapperOf<'enclave'>['description'];

const VERSION = 1;
const SEALING_SECRET_MIN_BYTES = 32;

/** Where the enclave seal gets this build's measurements (an attestation provider). */
export interface MeasurementSource {
  pcrs(): Promise<ReadonlyMap<number, Uint8Array>>;
}

/** PCR0..2 of `pcrs` as lowercase hex. @throws KeyholdError KH_ATTESTATION_PROVIDER_FAILED when one is missing or PCR0..2 are all zero. */
export function bindingOf(pcrs: ReadonlyMap<number, Uint8Array>): EnclaveBinding {
  const values = BOUND_PCRS.map((i) => pcrs.get(i));
  if (values.some((v) => v === undefined || v.length === 0)) throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', 'the attestation provider does not report PCR0, PCR1 and PCR2');
  // A debug-mode Nitro enclave reports zeros: there would be nothing to bind to.
  if (values.every((v) => v!.every((b) => b === 0))) throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', 'PCR0, PCR1 and PCR2 are all zero (a debug-mode enclave): the root key cannot be bound to them');
  const [pcr0, pcr1, pcr2] = values.map((v) => toHex(v!)) as [string, string, string];
  return { pcr0, pcr1, pcr2 };
}

/**
 * Which bound PCRs differ between the recorded binding and this build's, as
 * a message for KH_SEAL_MEASUREMENT_MISMATCH; undefined when they all match.
 */
export function measurementMismatch(bound: EnclaveBinding, current: EnclaveBinding): string | undefined {
  const differing = BOUND_PCRS.filter((i) => bound[`pcr${i}`] !== current[`pcr${i}`]);
  if (differing.length === 0) return undefined;
  const names = differing.map((i) => `PCR${i}`);
  const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}`;
  const detail = differing.map((i) => `PCR${i} bound ${bound[`pcr${i}`].slice(0, 16)}…, running ${current[`pcr${i}`].slice(0, 16)}…`).join('; ');
  return (
    `This build's measurements differ from those the root key is bound to: ${list} ${differing.length === 1 ? 'differs' : 'differ'} (${detail}). ` +
    'The vault stays sealed. After an intended upgrade, unseal with the recovery shares and migrate: true to re-bind the root key to this build; ' +
    'or set seal.disabled: true and do the same to migrate to Shamir'
  );
}

export class EnclaveSeal implements RootKeyWrapperOf<'enclave'> {
  readonly type = 'enclave' as const;
  readonly description: EnclaveBinding;
  readonly #kek: Uint8Array;

  private constructor(binding: EnclaveBinding, kek: Uint8Array) {
    this.description = binding;
    this.#kek = kek;
  }

  /**
   * Derives this build's key-encryption key. `sealingSecret` is copied into
   * the derivation only; the caller keeps (and wipes) it.
   * @throws KeyholdError KH_ATTESTATION_PROVIDER_FAILED when the measurements cannot be read or are unusable.
   */
  static async create(options: { measurements: MeasurementSource; sealingSecret: Uint8Array }): Promise<EnclaveSeal> {
    if (options.sealingSecret.length < SEALING_SECRET_MIN_BYTES) throw new TypeError(`the sealing secret must be at least ${SEALING_SECRET_MIN_BYTES} bytes`);
    let pcrs: ReadonlyMap<number, Uint8Array>;
    try {
      pcrs = await options.measurements.pcrs();
    } catch (e) {
      if (e instanceof KeyholdError) throw e;
      throw new KeyholdError('KH_ATTESTATION_PROVIDER_FAILED', 'the measurements of this build could not be read', { cause: e });
    }
    const binding = bindingOf(pcrs);
    const salt = concatBytes(...BOUND_PCRS.map((i) => pcrs.get(i)!));
    return new EnclaveSeal(binding, hkdf('sha256', options.sealingSecret, salt, utf8(ENCLAVE_SEAL_INFO), 32));
  }

  async wrap(rootKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return concatBytes(new Uint8Array([VERSION]), aesGcmEncrypt(this.#kek, rootKey, aad));
  }

  async unwrap(blob: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (blob.length < 1 + 12 + 16 || blob[0] !== VERSION) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the wrapped root key record is malformed');
    const rootKey = aesGcmDecrypt(this.#kek, blob.subarray(1), aad);
    // The measurements match (the seal manager checked): the sealing secret changed, or the record was altered.
    if (rootKey === undefined) throw new KeyholdError('KH_UNSEAL_FAILED', "the root key does not open with this enclave's sealing key (was the sealing secret replaced, or the record altered?)");
    return rootKey;
  }

  /** Wipes the derived key; the seal cannot be used after. */
  dispose(): void {
    wipe(this.#kek);
  }
}
