/**
 * An automatic seal: something outside the vault's storage that wraps the
 * root key, so the node can unseal itself at start: an HSM key over PKCS#11
 * (`pkcs11`), or a key only this build in this enclave can derive
 * (`enclave`). The seal manager binds the seal configuration into `aad`; a
 * wrapper must authenticate it (AES-GCM does; RSA-OAEP wraps a data key that
 * AES-GCM uses).
 */

/** What the seal config records about each kind of wrapping key (no secrets). */
export interface RootKeyWrapperDescriptions {
  /** Recorded as `hsm` in the seal config. */
  readonly pkcs11: { readonly keyLabel: string; readonly mechanism: 'aes-gcm' | 'rsa-oaep' };
  /** Recorded as `enclave`: the measurements (lowercase hex) the root key is bound to. */
  readonly enclave: { readonly pcr0: string; readonly pcr1: string; readonly pcr2: string };
}

export type AutoSealType = keyof RootKeyWrapperDescriptions;

export interface RootKeyWrapperOf<T extends AutoSealType> {
  readonly type: T;
  /** What the seal config records about the wrapping key (no secrets). */
  readonly description: RootKeyWrapperDescriptions[T];
  /** @throws KeyholdError KH_HSM_* when the HSM cannot do it. */
  wrap(rootKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** @throws KeyholdError KH_HSM_* when the HSM cannot do it, KH_UNSEAL_FAILED when the blob does not authenticate. */
  unwrap(blob: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

/** Any automatic seal; `type` tells which (and narrows `description`). */
export type RootKeyWrapper = { [T in AutoSealType]: RootKeyWrapperOf<T> }[AutoSealType];
