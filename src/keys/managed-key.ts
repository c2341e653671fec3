/**
 * A key as held in memory: its record plus per-version handles parsed once
 * (KeyObjects, raw keys), so a request costs the cryptography and nothing else.
 */
import { KeyholdError } from '../errors.js';
import { fromBase64Strict, wipe } from '../crypto/bytes.js';
import { specOf, type KeySpec } from './key-types.js';
import { x25519Peer, x25519Private } from '../crypto/agreement/x25519.js';
import { hsmObjectsOf } from './hsm/hsm-objects.js';
import type { KeyRecord, KeyVersionRecord } from './key-record.js';

export interface VersionHandles {
  readonly version: number;
  /** Raw symmetric key (AEAD, HMAC). */
  readonly secret?: Uint8Array;
  /** Parsed private key (signature, agreement and KEM types); for HSM-backed keys the Pkcs11Key naming the token object. */
  readonly privateKey?: unknown;
  /** Parsed public key (signature, agreement and KEM types). */
  readonly publicKey?: unknown;
  /** The stored public key bytes (SPKI DER or raw). */
  readonly publicKeyBytes?: Uint8Array;
}

export type KeyUse = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'read';

export class ManagedKey {
  readonly record: KeyRecord;
  readonly spec: KeySpec;
  readonly #handles = new Map<number, VersionHandles>();

  constructor(record: KeyRecord) {
    this.record = record;
    this.spec = specOf(record.type);
  }

  get name(): string {
    return this.record.name;
  }

  /**
   * Refuses use of a disabled or deletion-pending key. Verification and
   * decryption are refused too: a disabled key does nothing (as in KMS).
   */
  /**
   * For operations that hand plaintext to the caller and have no recipient to
   * seal it to (VSSM's decrypts): a key with a release policy gives its
   * plaintext only to an attested enclave, so they refuse it.
   * @throws KeyholdError KH_RELEASE_RECIPIENT_REQUIRED
   */
  checkNoReleasePolicy(): void {
    if (this.record.releasePolicy !== undefined)
      throw new KeyholdError('KH_RELEASE_RECIPIENT_REQUIRED', 'this key has a release policy: its plaintext goes only to an attested recipient, which this operation cannot name');
  }

  checkUsable(): void {
    if (this.record.state === 'disabled') throw new KeyholdError('KH_KEY_DISABLED');
    if (this.record.state === 'pending-deletion') throw new KeyholdError('KH_KEY_PENDING_DELETION');
    if (this.record.state === 'pending-import') throw new KeyholdError('KH_KEY_PENDING_IMPORT');
  }

  /** The version new ciphertexts/signatures use. */
  encryptionVersion(requested?: number): number {
    const r = this.record;
    const v = requested ?? r.latestVersion;
    const min = r.minEncryptionVersion === 0 ? r.latestVersion : r.minEncryptionVersion;
    if (!Number.isInteger(v) || v < Math.max(min, r.minAvailableVersion) || v > r.latestVersion)
      throw new KeyholdError('KH_KEY_VERSION_INVALID', `version ${v} cannot be used for new output (allowed ${Math.max(min, r.minAvailableVersion)}..${r.latestVersion})`);
    return v;
  }

  /** Checks a version found in a ciphertext or signature against minDecryptionVersion and trimming. */
  checkDecryptionVersion(v: number): void {
    const r = this.record;
    const min = Math.max(r.minDecryptionVersion, r.minAvailableVersion);
    if (v < min || v > r.latestVersion) throw new KeyholdError('KH_KEY_VERSION_INVALID', `version ${v} is not allowed for decryption or verification (allowed ${min}..${r.latestVersion})`);
  }

  #versionRecord(v: number): KeyVersionRecord {
    const rec = this.record.versions.find((x) => x.version === v);
    if (rec === undefined) throw new KeyholdError('KH_KEY_VERSION_INVALID');
    return rec;
  }

  handles(v: number): VersionHandles {
    const cached = this.#handles.get(v);
    if (cached !== undefined) return cached;
    const rec = this.#versionRecord(v);
    const secret = rec.secret === undefined ? undefined : fromBase64Strict(rec.secret);
    const publicKeyBytes = rec.publicKey === undefined ? undefined : fromBase64Strict(rec.publicKey);
    let handles: VersionHandles;
    if (this.spec.kind === 'signature') {
      const scheme = this.spec.scheme;
      handles = {
        version: v,
        ...(secret !== undefined ? { privateKey: scheme.loadPrivate(secret) } : {}),
        ...(publicKeyBytes !== undefined ? { publicKey: scheme.loadPublic(publicKeyBytes), publicKeyBytes } : {}),
      };
    } else if (this.spec.kind === 'agreement') {
      handles = {
        version: v,
        ...(secret !== undefined ? { privateKey: x25519Private(secret) } : {}),
        ...(publicKeyBytes !== undefined ? { publicKey: x25519Peer(publicKeyBytes), publicKeyBytes } : {}),
      };
    } else if (this.spec.kind === 'hsm') {
      // The secret stays on the token: the handle is a descriptor the PKCS#11 client resolves.
      const hsm = this.spec.hsm;
      handles = {
        version: v,
        privateKey: hsmObjectsOf(hsm, rec).key,
        ...(publicKeyBytes !== undefined && hsm.algorithm !== 'aes-gcm' ? { publicKey: hsm.scheme.loadPublic(publicKeyBytes), publicKeyBytes } : {}),
      };
    } else if (this.spec.kind === 'kem') {
      handles = {
        version: v,
        ...(secret !== undefined ? { privateKey: this.spec.kem.expand(secret).secretKey } : {}),
        ...(publicKeyBytes !== undefined ? { publicKey: publicKeyBytes, publicKeyBytes } : {}),
      };
    } else {
      handles = { version: v, ...(secret !== undefined ? { secret } : {}) };
    }
    this.#handles.set(v, handles);
    return handles;
  }

  /** Drops parsed handles and zeroes raw secrets (on eviction or seal). */
  wipe(): void {
    for (const h of this.#handles.values()) wipe(h.secret);
    this.#handles.clear();
  }
}
