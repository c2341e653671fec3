/**
 * An automatic seal: something outside the vault (an HSM key over PKCS#11)
 * that wraps the root key, so the node can unseal itself at start. The seal
 * manager binds the seal configuration into `aad`; a wrapper must
 * authenticate it (AES-GCM does; RSA-OAEP wraps a data key that AES-GCM uses).
 */
export interface RootKeyWrapper {
  readonly type: 'pkcs11';
  /** What the seal config records about the wrapping key (no secrets). */
  readonly description: { readonly keyLabel: string; readonly mechanism: 'aes-gcm' | 'rsa-oaep' };
  /** @throws KeyholdError KH_HSM_* when the HSM cannot do it. */
  wrap(rootKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** @throws KeyholdError KH_HSM_* when the HSM cannot do it, KH_UNSEAL_FAILED when the blob does not authenticate. */
  unwrap(blob: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}
