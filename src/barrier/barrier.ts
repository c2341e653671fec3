/**
 * The security barrier: everything stored below `logical/` is AES-256-GCM
 * ciphertext under the keyring's active term.
 *
 * Record layout: version(1)=1 | term(u32 BE) | nonce(12) | ciphertext | tag(16).
 * AAD = "keyhold-barrier-v1" 0x00 path 0x00 term(u32): a record moved to
 * another path, or relabelled with another term, fails authentication.
 * The keyring itself is stored at `core/keyring`, encrypted under the root key
 * (AAD "keyhold-keyring-v1"); the root key is held only by the seal.
 *
 * Contract: while sealed every data call throws KH_SEALED; a record that fails
 * authentication throws KH_STORAGE_INTEGRITY and its bytes are never returned.
 *
 * Seal wrapping: records of views opened with { sealWrap: true } (critical
 * security parameters: key material, TOTP secrets, signing keys) and the
 * keyring are encrypted once more by the seal (the HSM) inside the barrier
 * encryption, when a SealWrapper is installed. Their plaintext starts with
 * SEAL_WRAP_MAGIC; reading one needs the HSM even with the keyring in hand.
 * Records written before wrapping was enabled stay readable and are wrapped
 * when rewritten (rewrapAll() does it for every one after a seal migration).
 */
import { KeyholdError } from '../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../crypto/aes-gcm.js';
import { concatBytes, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hmac.js';
import type { PhysicalBackend, StorageOp } from '../storage/backend.js';
import { Keyring, type TermInfo } from './keyring.js';
import { KEYRING_PATH, LOGICAL_PREFIX } from './paths.js';

const RECORD_VERSION = 1;
/** Prefix of a seal-wrapped value (inside the barrier encryption). */
export const SEAL_WRAP_MAGIC = utf8('KHSW\x01');

/** The seal's second layer for critical records (implemented above the barrier, by the seal). */
export interface SealWrapper {
  wrap(path: string, value: Uint8Array): Promise<Uint8Array>;
  unwrap(path: string, value: Uint8Array): Promise<Uint8Array>;
}

function isSealWrapped(value: Uint8Array): boolean {
  return value.length >= SEAL_WRAP_MAGIC.length && SEAL_WRAP_MAGIC.every((b, i) => value[i] === b);
}
const HEADER_BYTES = 5;
const KEYRING_AAD = utf8('keyhold-keyring-v1');

/** A logical write, as collected for an atomic transaction. */
export type BarrierOp =
  | { readonly type: 'put'; readonly path: string; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly path: string };

const RECORD_AAD_LABEL = utf8('keyhold-barrier-v1\0');

function recordAad(path: string, term: number): Uint8Array {
  const p = utf8(path);
  const aad = new Uint8Array(RECORD_AAD_LABEL.length + p.length + 5);
  aad.set(RECORD_AAD_LABEL, 0);
  aad.set(p, RECORD_AAD_LABEL.length);
  new DataView(aad.buffer).setUint32(aad.length - 4, term);
  return aad;
}

function validatePath(path: string): void {
  // Paths are built by code, never taken from a caller; a bad one is a bug.
  if (path.length === 0 || path.length > 1024 || path.includes('\0')) throw new TypeError(`invalid barrier path`);
}

export class Barrier {
  readonly #backend: PhysicalBackend;
  #keyring: Keyring | undefined;
  // The root key is kept while unsealed so the keyring can be re-stored on
  // rotation (as Vault's barrier does); seal() wipes it with the keyring.
  #rootKey: Uint8Array | undefined;
  readonly #sealListeners: (() => void)[] = [];
  /** Reads of wrapped records use it; writes wrap only when #wrapWrites (not while migrating away from the HSM). */
  #wrapper: SealWrapper | undefined;
  #wrapWrites = false;
  readonly #wrappedPrefixes = new Set<string>();

  constructor(backend: PhysicalBackend) {
    this.#backend = backend;
  }

  /** Installs seal wrapping: `wrapWrites` false only while migrating away from an HSM seal (reads still unwrap). */
  setSealWrapper(wrapper: SealWrapper | undefined, wrapWrites: boolean): void {
    this.#wrapper = wrapper;
    this.#wrapWrites = wrapper !== undefined && wrapWrites;
  }

  get sealWrapping(): boolean {
    return this.#wrapWrites;
  }

  /** The value as stored for a seal-wrapped path (wrapped when writes wrap). */
  async sealWrapValue(path: string, value: Uint8Array): Promise<Uint8Array> {
    if (!this.#wrapWrites) return value;
    return concatBytes(SEAL_WRAP_MAGIC, await this.#wrapper!.wrap(path, value));
  }

  /** The plain value of a possibly seal-wrapped record. @throws KeyholdError KH_HSM_UNAVAILABLE when it is wrapped and no seal can unwrap it. */
  async sealUnwrapValue(path: string, value: Uint8Array): Promise<Uint8Array> {
    if (!isSealWrapped(value)) return value;
    if (this.#wrapper === undefined) throw new KeyholdError('KH_HSM_UNAVAILABLE', 'this record is seal-wrapped and no HSM seal is configured');
    return this.#wrapper.unwrap(path, value.subarray(SEAL_WRAP_MAGIC.length));
  }

  get sealed(): boolean {
    return this.#keyring === undefined;
  }

  #ring(): Keyring {
    if (this.#keyring === undefined) throw new KeyholdError('KH_SEALED');
    return this.#keyring;
  }

  /**
   * Creates a fresh keyring and holds it in memory. Returns the physical op
   * that stores it (wrapped by `rootKey`) so the caller can commit it in the
   * same transaction as the seal's own records.
   */
  createKeyring(rootKey: Uint8Array): StorageOp {
    this.seal();
    this.#keyring = Keyring.generate();
    this.#rootKey = rootKey.slice();
    return this.#keyringOp(this.#keyring, rootKey);
  }

  #keyringOp(ring: Keyring, rootKey: Uint8Array): StorageOp {
    const plain = ring.serialize();
    try {
      return { type: 'put', key: KEYRING_PATH, value: aesGcmEncrypt(rootKey, plain, KEYRING_AAD) };
    } finally {
      wipe(plain);
    }
  }

  /**
   * Loads the keyring with the root key.
   * @throws KeyholdError KH_STORAGE_INTEGRITY if the keyring record is missing or fails authentication.
   */
  async unseal(rootKey: Uint8Array): Promise<void> {
    const sealed = await this.#backend.get(KEYRING_PATH);
    if (sealed === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is missing');
    const inner = aesGcmDecrypt(rootKey, sealed, KEYRING_AAD);
    if (inner === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record failed authentication');
    const plain = await this.sealUnwrapValue(KEYRING_PATH, inner);
    if (plain !== inner) wipe(inner);
    try {
      const ring = Keyring.deserialize(plain);
      this.seal();
      this.#keyring = ring;
      this.#rootKey = rootKey.slice();
    } finally {
      wipe(plain);
    }
  }

  /** Registers a callback run on every seal(), for caches of decrypted data above the barrier. */
  onSeal(listener: () => void): void {
    this.#sealListeners.push(listener);
  }

  /** Wipes the keyring from memory, and tells listeners to drop what they decrypted. Idempotent. */
  seal(): void {
    for (const l of this.#sealListeners) l();
    this.#keyring?.wipe();
    this.#keyring = undefined;
    wipe(this.#rootKey);
    this.#rootKey = undefined;
  }

  /**
   * Adds a keyring term and makes it active. New writes use it at once; records
   * under older terms remain readable; no request waits on it.
   */
  async rotate(): Promise<TermInfo> {
    const next = this.#ring().withNewTerm();
    try {
      await this.#backend.transaction([await this.#storedKeyringOp(next)]);
    } catch (e) {
      next.wipe();
      throw e;
    }
    const old = this.#keyring;
    this.#keyring = next;
    old?.wipe();
    return next.terms().find((t) => t.term === next.activeTerm)!;
  }

  /** The keyring record under the held root key, seal-wrapped when writes wrap. */
  async #storedKeyringOp(ring: Keyring): Promise<StorageOp> {
    const plain = ring.serialize();
    try {
      const inner = await this.sealWrapValue(KEYRING_PATH, plain);
      return { type: 'put', key: KEYRING_PATH, value: aesGcmEncrypt(this.#rootKey!, inner, KEYRING_AAD) };
    } finally {
      wipe(plain);
    }
  }

  /**
   * Rewrites the keyring and every record of the seal-wrapped views as the
   * current wrapping says: wrapped under an HSM seal, plain when migrating
   * away from it. Idempotent; run after a seal migration.
   * @returns the number of records rewritten (keyring excluded)
   */
  async rewrapAll(): Promise<number> {
    this.#ring();
    await this.#backend.transaction([await this.#storedKeyringOp(this.#ring())]);
    let n = 0;
    for (const prefix of this.#wrappedPrefixes) {
      for (const path of await this.list(prefix)) {
        const record = await this.get(path);
        if (record === undefined) continue;
        const plain = await this.sealUnwrapValue(path, record);
        if (isSealWrapped(record) === this.#wrapWrites) continue;
        await this.put(path, await this.sealWrapValue(path, plain));
        n++;
      }
    }
    return n;
  }

  /** Re-encrypts the keyring under a new root key (root-key rotation, seal migration). */
  rewrapKeyringOp(newRootKey: Uint8Array): StorageOp {
    return this.#keyringOp(this.#ring(), newRootKey);
  }

  keyStatus(): { term: number; installedAt: Date; terms: number } {
    const ring = this.#ring();
    const t = ring.terms();
    return { term: ring.activeTerm, installedAt: t.find((x) => x.term === ring.activeTerm)!.installedAt, terms: t.length };
  }

  /**
   * Storage-path segment for a named object: hex HMAC-SHA-256(index key,
   * namespace 0x00 name). Names themselves are stored only inside encrypted
   * records, so the database never holds them in the clear.
   */
  indexPath(namespace: string, name: string): string {
    return toHex(hmacSha256(this.#ring().indexKey, concatBytes(utf8(namespace), new Uint8Array([0]), utf8(name))));
  }

  /** Encrypts a logical record into the physical op that stores it. */
  encryptOp(op: BarrierOp): StorageOp {
    validatePath(op.path);
    const key = LOGICAL_PREFIX + op.path;
    if (op.type === 'delete') return { type: 'delete', key };
    const { term, key: dek } = this.#ring().activeKey();
    const header = new Uint8Array(HEADER_BYTES);
    header[0] = RECORD_VERSION;
    new DataView(header.buffer).setUint32(1, term);
    return { type: 'put', key, value: concatBytes(header, aesGcmEncrypt(dek, op.value, recordAad(op.path, term))) };
  }

  /** @throws KeyholdError KH_STORAGE_INTEGRITY when the record fails authentication. */
  decryptRecord(path: string, record: Uint8Array): Uint8Array {
    const ring = this.#ring();
    const fail = (why: string) => new KeyholdError('KH_STORAGE_INTEGRITY', undefined, { cause: new Error(`${why} at a barrier record`) });
    if (record.length < HEADER_BYTES || record[0] !== RECORD_VERSION) throw fail('unknown record version');
    const term = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(1);
    const key = ring.keyForTerm(term);
    if (key === undefined) throw fail('unknown keyring term');
    const plain = aesGcmDecrypt(key, record.subarray(HEADER_BYTES), recordAad(path, term));
    if (plain === undefined) throw fail('authentication failure');
    return plain;
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    validatePath(path);
    this.#ring();
    const record = await this.#backend.get(LOGICAL_PREFIX + path);
    return record === undefined ? undefined : this.decryptRecord(path, record);
  }

  async put(path: string, value: Uint8Array): Promise<void> {
    const op = this.encryptOp({ type: 'put', path, value });
    if (op.type === 'put') await this.#backend.put(op.key, op.value);
  }

  async delete(path: string): Promise<void> {
    validatePath(path);
    this.#ring();
    await this.#backend.delete(LOGICAL_PREFIX + path);
  }

  /** Logical paths under `prefix`, ascending. */
  async list(prefix: string): Promise<string[]> {
    this.#ring();
    const keys = await this.#backend.list(LOGICAL_PREFIX + prefix);
    return keys.map((k) => k.slice(LOGICAL_PREFIX.length));
  }

  /** Applies logical writes atomically (all encrypted before anything is written). */
  async transaction(ops: readonly BarrierOp[]): Promise<void> {
    await this.#backend.transaction(ops.map((op) => this.encryptOp(op)));
  }

  /** A view confined to `prefix` (which must end in "/"); services see storage only through one. */
  /**
   * `sealWrap`: the view's records (or only `sealWrap.path` of it, when the
   * prefix is shared with other views) are seal-wrapped. Views sharing
   * records must agree on it.
   */
  view(prefix: string, options: { sealWrap?: true | { path: string } } = {}): BarrierView {
    if (!prefix.endsWith('/')) throw new TypeError('a view prefix must end with "/"');
    const only = typeof options.sealWrap === 'object' ? options.sealWrap.path : undefined;
    if (options.sealWrap !== undefined) this.#wrappedPrefixes.add(prefix + (only ?? ''));
    return new BarrierView(this, prefix, options.sealWrap === undefined ? false : (only ?? true));
  }
}

/** A barrier scoped to one prefix, so a service cannot read another's records. */
export class BarrierView {
  readonly #barrier: Barrier;
  readonly #prefix: string;

  /** true: every record is seal-wrapped; a string: only that path; false: none. */
  readonly #sealWrap: boolean | string;

  constructor(barrier: Barrier, prefix: string, sealWrap: boolean | string = false) {
    this.#barrier = barrier;
    this.#prefix = prefix;
    this.#sealWrap = sealWrap;
  }

  #wraps(path: string): boolean {
    return this.#sealWrap === true || this.#sealWrap === path;
  }

  get prefix(): string {
    return this.#prefix;
  }

  indexPath(namespace: string, name: string): string {
    return this.#barrier.indexPath(namespace, name);
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    const full = this.#prefix + path;
    const value = await this.#barrier.get(full);
    return value === undefined || !this.#wraps(path) ? value : this.#barrier.sealUnwrapValue(full, value);
  }

  async put(path: string, value: Uint8Array): Promise<void> {
    const full = this.#prefix + path;
    return this.#barrier.put(full, this.#wraps(path) ? await this.#barrier.sealWrapValue(full, value) : value);
  }

  delete(path: string): Promise<void> {
    return this.#barrier.delete(this.#prefix + path);
  }

  async list(prefix = ''): Promise<string[]> {
    const all = await this.#barrier.list(this.#prefix + prefix);
    return all.map((p) => p.slice(this.#prefix.length));
  }

  async transaction(ops: readonly BarrierOp[]): Promise<void> {
    const full: BarrierOp[] = [];
    for (const op of ops) {
      const path = this.#prefix + op.path;
      full.push(op.type === 'put' && this.#wraps(op.path) ? { type: 'put', path, value: await this.#barrier.sealWrapValue(path, op.value) } : { ...op, path });
    }
    return this.#barrier.transaction(full);
  }

  encryptOp(op: BarrierOp): StorageOp {
    // Synchronous, so it cannot seal-wrap (it serves seed records at initialisation, none of them critical).
    if (this.#wraps(op.path)) throw new TypeError('encryptOp is not available for a seal-wrapped record');
    return this.#barrier.encryptOp({ ...op, path: this.#prefix + op.path });
  }
}
