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
 */
import { KeyholdError } from '../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../crypto/aes-gcm.js';
import { concatBytes, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hmac.js';
import type { PhysicalBackend, StorageOp } from '../storage/backend.js';
import { Keyring, type TermInfo } from './keyring.js';
import { KEYRING_PATH, LOGICAL_PREFIX } from './paths.js';

const RECORD_VERSION = 1;
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

  constructor(backend: PhysicalBackend) {
    this.#backend = backend;
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
    const plain = aesGcmDecrypt(rootKey, sealed, KEYRING_AAD);
    if (plain === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record failed authentication');
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
      await this.#backend.transaction([this.#keyringOp(next, this.#rootKey!)]);
    } catch (e) {
      next.wipe();
      throw e;
    }
    const old = this.#keyring;
    this.#keyring = next;
    old?.wipe();
    return next.terms().find((t) => t.term === next.activeTerm)!;
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
  view(prefix: string): BarrierView {
    if (!prefix.endsWith('/')) throw new TypeError('a view prefix must end with "/"');
    return new BarrierView(this, prefix);
  }
}

/** A barrier scoped to one prefix, so a service cannot read another's records. */
export class BarrierView {
  readonly #barrier: Barrier;
  readonly #prefix: string;

  constructor(barrier: Barrier, prefix: string) {
    this.#barrier = barrier;
    this.#prefix = prefix;
  }

  get prefix(): string {
    return this.#prefix;
  }

  indexPath(namespace: string, name: string): string {
    return this.#barrier.indexPath(namespace, name);
  }

  get(path: string): Promise<Uint8Array | undefined> {
    return this.#barrier.get(this.#prefix + path);
  }

  put(path: string, value: Uint8Array): Promise<void> {
    return this.#barrier.put(this.#prefix + path, value);
  }

  delete(path: string): Promise<void> {
    return this.#barrier.delete(this.#prefix + path);
  }

  async list(prefix = ''): Promise<string[]> {
    const all = await this.#barrier.list(this.#prefix + prefix);
    return all.map((p) => p.slice(this.#prefix.length));
  }

  transaction(ops: readonly BarrierOp[]): Promise<void> {
    return this.#barrier.transaction(ops.map((op) => ({ ...op, path: this.#prefix + op.path })));
  }

  encryptOp(op: BarrierOp): StorageOp {
    return this.#barrier.encryptOp({ ...op, path: this.#prefix + op.path });
  }
}
