/**
 * The security barrier: everything stored below `logical/` is AES-256-GCM
 * ciphertext under the keyring's active term.
 *
 * Record layout: version(1)=2 | term(u32 BE) | generation(u64 BE) | nonce(12) | ciphertext | tag(16).
 * AAD = "keyhold-barrier-v2" 0x00 path 0x00 term(u32) generation(u64): a
 * record moved to another path, relabelled with another term, or with
 * another generation, fails authentication. (Version 1 records, without a
 * generation, are only read by the one-time upgrade and in key backups.)
 * The keyring itself is stored at `core/keyring`, encrypted under the root key
 * (AAD "keyhold-keyring-v2"), together with the storage state
 * (storage-state.ts); the root key is held only by the seal. A keyring from
 * before the storage state (AAD "keyhold-keyring-v1") is upgraded once and is
 * never accepted again once anything was written after an upgrade (issue 15,
 * review 10: the upgrade path must not double as a downgrade).
 *
 * Rollback detection (issue 15, H3): every write transaction bumps the
 * storage generation and, in the same SQLite transaction, rewrites the
 * keyring record with the new generation and the keyed set hash over all
 * (path, generation) pairs. At unseal every record's header is scanned and
 * the set hash recomputed: a deleted, resurrected, rolled-back or relabelled
 * row fails it (KH_STORAGE_ROLLBACK, the vault stays sealed). While unsealed
 * the barrier keeps each path's generation in memory and checks every read
 * and listing against it, so a row changed under a running node is refused
 * too. External anchors (anchors.ts) catch a consistent rollback of the whole
 * file. The keyring record is rewritten on every write from a cached copy of
 * its (possibly seal-wrapped) keys, so no write waits for the HSM.
 *
 * Contract: while sealed every data call throws KH_SEALED; a record that fails
 * authentication throws KH_STORAGE_INTEGRITY and its bytes are never returned;
 * a record that is not the one the storage state names throws KH_STORAGE_ROLLBACK.
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
import { concatBytes, constantTimeEqual, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hmac.js';
import type { PhysicalBackend, StorageOp } from '../storage/backend.js';
import type { RollbackAnchor } from '../storage/rollback-anchor.js';
import { AnchorSet, type AnchorEvents, type AnchorLagBounds } from './anchors.js';
import { Keyring, type TermInfo } from './keyring.js';
import { KEYRING_PATH, LOGICAL_PREFIX } from './paths.js';
import { decodeState, digestKeyOf, encodeState, getU64, initialState, recordTerm, sealedRecordsHash, writeU64, xorInto, type PolicyState, type StorageState } from './storage-state.js';

export type { PolicyState } from './storage-state.js';

const RECORD_VERSION_V1 = 1;
const RECORD_VERSION = 2;
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
const HEADER_BYTES_V1 = 5;
const HEADER_BYTES = 13;
/** A distinct AAD per keyring format, so a record of one format never authenticates as the other. */
const KEYRING_AAD_V1 = utf8('keyhold-keyring-v1');
const KEYRING_AAD = utf8('keyhold-keyring-v2');
/**
 * Keyring record plaintext since the storage state: "KHK2" | keys length(u32) |
 * keys (Keyring.serialize(), seal-wrapped when writes wrap) | storage state.
 * A plaintext without the marker is a keyring from before (upgraded at unseal).
 */
const KEYRING_V2_MAGIC = utf8('KHK2');

/** What a commit changes besides logical records. */
interface CommitChange {
  readonly policy?: PolicyState;
  readonly keys?: Uint8Array;
  readonly ring?: Keyring;
  readonly anchorBits?: number;
  /** Sealed-readable records written in the same transaction (their hash goes into the state). */
  readonly sealedOps?: readonly StorageOp[];
}

/** A logical write, as collected for an atomic transaction. */
export type BarrierOp =
  | { readonly type: 'put'; readonly path: string; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly path: string };

/** What a write transaction may change besides records: the policy layer's state (kept under the root key). */
export interface CommitOptions {
  readonly policy?: PolicyState;
}

const RECORD_AAD_LABEL_V1 = utf8('keyhold-barrier-v1\0');
const RECORD_AAD_LABEL = utf8('keyhold-barrier-v2\0');

function recordAad(path: string, term: number, generation?: number): Uint8Array {
  const label = generation === undefined ? RECORD_AAD_LABEL_V1 : RECORD_AAD_LABEL;
  const p = utf8(path);
  const aad = new Uint8Array(label.length + p.length + 5 + (generation === undefined ? 0 : 8));
  aad.set(label, 0);
  aad.set(p, label.length);
  new DataView(aad.buffer).setUint32(label.length + p.length + 1, term);
  if (generation !== undefined) aad.set(writeU64(generation), aad.length - 8);
  return aad;
}

/** The generation in a record's header, or undefined when the record is too short to have one. */
function headerGeneration(record: Uint8Array): number | undefined {
  if (record.length < HEADER_BYTES) return undefined;
  return getU64(new DataView(record.buffer, record.byteOffset, record.byteLength), 5);
}

function validatePath(path: string): void {
  // Paths are built by code, never taken from a caller; a bad one is a bug.
  if (path.length === 0 || path.length > 1024 || path.includes('\0')) throw new TypeError(`invalid barrier path`);
}

const rollback = (why: string) => new KeyholdError('KH_STORAGE_ROLLBACK', undefined, { cause: new Error(why) });

export class Barrier {
  readonly #backend: PhysicalBackend;
  #keyring: Keyring | undefined;
  // The root key is kept while unsealed so the keyring can be re-stored on
  // every write (as Vault's barrier keeps it for rotation); seal() wipes it with the keyring.
  #rootKey: Uint8Array | undefined;
  /** The keyring's keys as stored (seal-wrapped when writes wrap), so a write never waits for the HSM. */
  #storedKeys: Uint8Array | undefined;
  #state: StorageState | undefined;
  #digestKey: Uint8Array | undefined;
  /** Every live record's generation, by logical path: reads and listings are checked against it. */
  readonly #generations = new Map<string, number>();
  /** Paths of the transaction being committed, with the generation they get (null: deleted). */
  readonly #pending = new Map<string, number | null>();
  #commits: Promise<unknown> = Promise.resolve();
  /** Counts seals, so a commit that straddles one does not install stale state. */
  #epoch = 0;
  #anchors = new AnchorSet([], { error: () => {}, warn: () => {} });
  readonly #sealListeners: (() => void)[] = [];
  /** Reads of wrapped records use it; writes wrap only when #wrapWrites (not while migrating away from the HSM). */
  #wrapper: SealWrapper | undefined;
  #wrapWrites = false;
  readonly #wrappedPrefixes = new Set<string>();
  /** Physical keys the seal reads while sealed (outside the set hash): their hash is kept in the state instead. */
  #sealedReadable: readonly string[] = [];

  constructor(backend: PhysicalBackend) {
    this.#backend = backend;
  }

  /** Installs seal wrapping: `wrapWrites` false only while migrating away from an HSM seal (reads still unwrap). */
  setSealWrapper(wrapper: SealWrapper | undefined, wrapWrites: boolean): void {
    this.#wrapper = wrapper;
    this.#wrapWrites = wrapper !== undefined && wrapWrites;
  }

  /** Names the seal's records that are read while sealed (the seal calls it once). */
  protectSealedReadable(keys: readonly string[]): void {
    this.#sealedReadable = [...keys].sort();
  }

  async #sealedHash(indexKey: Uint8Array, changes?: ReadonlyMap<string, Uint8Array | undefined>): Promise<Uint8Array> {
    const records: [string, Uint8Array | undefined][] = [];
    for (const key of this.#sealedReadable) records.push([key, changes?.has(key) === true ? changes.get(key) : await this.#backend.get(key)]);
    return sealedRecordsHash(indexKey, records);
  }

  /**
   * Checks the sealed-readable records against the hash the keyring records
   * (before a quorum of shares is accepted for rekey or generate-root: old
   * records put back would make old shares count).
   * @throws KeyholdError KH_SEALED; KH_STORAGE_ROLLBACK when they are not the records the keyring names.
   */
  async checkSealedReadable(): Promise<void> {
    const ring = this.#ring();
    const recorded = this.#state!.sealed;
    if (recorded === undefined || this.#sealedReadable.length === 0) return;
    if (!constantTimeEqual(await this.#sealedHash(ring.indexKey), recorded))
      throw rollback('a record readable while sealed (seal configuration, root key, recovery records) is not the one the keyring records');
  }

  /**
   * Writes sealed-readable records (rekey, seal migration) in one transaction
   * with a keyring record whose hash names them.
   * @throws KeyholdError KH_SEALED
   */
  commitSealedReadable(ops: readonly StorageOp[]): Promise<void> {
    for (const op of ops) if (!this.#sealedReadable.includes(op.key)) throw new TypeError('not a sealed-readable record');
    return this.#commit([], { sealedOps: ops });
  }

  /** Installs the external rollback anchors, checked at every unseal and bumped after writes. */
  setRollbackAnchors(anchors: readonly RollbackAnchor[], events: AnchorEvents, bounds?: AnchorLagBounds): void {
    this.#anchors = new AnchorSet(anchors, events, bounds);
  }

  /** True while the last write to some rollback anchor failed (a metric). */
  get anchorFailing(): boolean {
    return this.#anchors.failing;
  }

  /** Waits for pending anchor writes. */
  flushAnchors(): Promise<void> {
    return this.#anchors.flush();
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

  /** The storage generation (grows with every committed write). */
  get generation(): number {
    this.#ring();
    return this.#state!.generation;
  }

  /**
   * The policy layer's state as the keyring records it; undefined for a store
   * written before it was kept there (the policy engine migrates it once).
   */
  policyState(): PolicyState | undefined {
    this.#ring();
    return this.#state!.policy;
  }

  /**
   * Creates a fresh keyring and holds it in memory. Returns the physical op
   * that stores it (wrapped by `rootKey`) so the caller can commit it in the
   * same transaction as the seal's own records (`sealedOps`: their hash goes
   * into the storage state). Records made with encryptOp()
   * for that transaction must be passed to withSeedRecords().
   */
  createKeyring(rootKey: Uint8Array, sealedOps: readonly StorageOp[] = []): StorageOp {
    this.seal();
    this.#keyring = Keyring.generate();
    this.#rootKey = rootKey.slice();
    this.#storedKeys = this.#keyring.serialize();
    this.#state = initialState();
    if (this.#sealedReadable.length > 0) {
      // A fresh store: the seal's records are exactly the ones in this transaction (absent otherwise).
      const values = new Map(sealedOps.map((op) => [op.key, op.type === 'put' ? op.value : undefined]));
      this.#state = { ...this.#state, sealed: sealedRecordsHash(this.#keyring.indexKey, this.#sealedReadable.map((k) => [k, values.get(k)] as const)) };
    }
    this.#digestKey = digestKeyOf(this.#keyring.indexKey);
    return this.#keyringOp(this.#state, rootKey);
  }

  /**
   * After createKeyring(): the ops that store `seed` (records from
   * encryptOp(), written at generation 1) together with a keyring record
   * whose storage state names them, for the initialisation transaction.
   */
  withSeedRecords(seed: readonly StorageOp[]): StorageOp[] {
    const state = this.#state!;
    const digest = state.digest.slice();
    let generation = state.generation;
    for (const op of seed) {
      if (op.type !== 'put' || !op.key.startsWith(LOGICAL_PREFIX)) throw new TypeError('a seed record must be a logical put from encryptOp()');
      const path = op.key.slice(LOGICAL_PREFIX.length);
      const g = headerGeneration(op.value)!;
      if (this.#generations.has(path)) throw new TypeError('a seed record is written twice');
      this.#generations.set(path, g);
      xorInto(digest, recordTerm(this.#digestKey!, path, g));
      generation = Math.max(generation, g);
    }
    this.#state = { ...state, generation, digest };
    return [this.#keyringOp(this.#state, this.#rootKey!), ...seed];
  }

  /** The keyring record for `state` under `rootKey`, from the cached stored keys. */
  #keyringOp(state: StorageState, rootKey: Uint8Array): StorageOp {
    const keys = this.#storedKeys!;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, keys.length);
    const plain = concatBytes(KEYRING_V2_MAGIC, len, keys, encodeState(state));
    try {
      return { type: 'put', key: KEYRING_PATH, value: aesGcmEncrypt(rootKey, plain, KEYRING_AAD) };
    } finally {
      wipe(plain);
    }
  }

  /**
   * Loads the keyring with the root key and checks storage against the
   * storage state it holds (and against the rollback anchors). A store
   * written before the storage state is upgraded here, once.
   * @throws KeyholdError KH_STORAGE_INTEGRITY if the keyring record is missing or fails authentication; KH_STORAGE_ROLLBACK if any record is not the one the state names, or an anchor has seen a later generation; KH_STORAGE_ANCHOR_UNAVAILABLE.
   */
  async unseal(rootKey: Uint8Array): Promise<void> {
    const sealed = await this.#backend.get(KEYRING_PATH);
    if (sealed === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is missing');
    let outer = aesGcmDecrypt(rootKey, sealed, KEYRING_AAD);
    const legacy = outer === undefined;
    if (legacy) outer = aesGcmDecrypt(rootKey, sealed, KEYRING_AAD_V1);
    if (outer === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record failed authentication');
    let storedKeys: Uint8Array;
    let stateBytes: Uint8Array | undefined;
    const framed = outer.length >= 8 && constantTimeEqual(outer.subarray(0, 4), KEYRING_V2_MAGIC);
    if (framed !== !legacy) {
      wipe(outer);
      throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is malformed');
    }
    if (framed) {
      const len = new DataView(outer.buffer, outer.byteOffset, outer.byteLength).getUint32(4);
      if (8 + len > outer.length) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is malformed');
      storedKeys = outer.slice(8, 8 + len);
      stateBytes = outer.slice(8 + len);
    } else storedKeys = outer.slice();
    wipe(outer);
    const plain = await this.sealUnwrapValue(KEYRING_PATH, storedKeys);
    let ring: Keyring;
    try {
      ring = Keyring.deserialize(plain);
    } finally {
      if (plain !== storedKeys) wipe(plain);
    }
    const digestKey = digestKeyOf(ring.indexKey);
    const generations = new Map<string, number>();
    let state: StorageState;
    let upgrade: StorageOp[] = [];
    let anchorBits: number;
    try {
      if (stateBytes === undefined) ({ state, ops: upgrade } = await this.#upgrade(ring, digestKey, generations));
      else {
        state = decodeState(stateBytes);
        await this.#verifyStorage(state, digestKey, generations);
      }
      const sealedHash = this.#sealedReadable.length === 0 ? undefined : await this.#sealedHash(ring.indexKey);
      if (state.sealed !== undefined && (sealedHash === undefined || !constantTimeEqual(sealedHash, state.sealed)))
        throw rollback('a record readable while sealed (seal configuration, root key, recovery records) is not the one the keyring records');
      // First unseal since this state existed: record them from now on.
      if (state.sealed === undefined && sealedHash !== undefined) state = { ...state, sealed: sealedHash };
      // Sealing first: it stops the anchor writers that check() is about to install.
      this.seal();
      anchorBits = await this.#anchors.check(ring.indexKey, state.generation, state.anchors, stateBytes === undefined);
      this.#keyring = ring;
      this.#rootKey = rootKey.slice();
      this.#storedKeys = storedKeys;
      this.#digestKey = digestKey;
      for (const [p, g] of generations) this.#generations.set(p, g);
      this.#state = state;
    } catch (e) {
      ring.wipe();
      wipe(storedKeys, digestKey);
      throw e;
    }
    // The upgrade is one transaction: every record re-encrypted at generation 1 and the keyring with its state.
    if (upgrade.length > 0 || stateBytes === undefined || (state.sealed !== undefined && decodeState(stateBytes).sealed === undefined)) await this.#backend.transaction([...upgrade, this.#keyringOp(state, rootKey)]);
    // An anchor used for the first time is recorded, so that its later disappearance is an error.
    if ((state.anchors & anchorBits) !== anchorBits) await this.#commit([], { anchorBits });
  }

  /**
   * Recomputes the set hash from every record's header and compares it with
   * the state's; fills `generations`.
   */
  async #verifyStorage(state: StorageState, digestKey: Uint8Array, generations: Map<string, number>): Promise<void> {
    const digest = new Uint8Array(state.digest.length);
    for (const key of await this.#backend.list(LOGICAL_PREFIX)) {
      const record = await this.#backend.get(key);
      const path = key.slice(LOGICAL_PREFIX.length);
      const g = record === undefined ? undefined : headerGeneration(record);
      if (g === undefined || g > state.generation) throw rollback('a record carries no generation, or one later than the storage state');
      generations.set(path, g);
      xorInto(digest, recordTerm(digestKey, path, g));
    }
    if (!constantTimeEqual(digest, state.digest)) throw rollback('the records do not match the storage digest (a row was rolled back, deleted, added or relabelled)');
  }

  /**
   * One-time upgrade of a store written before the storage state: every
   * record (version 1) is authenticated and re-encrypted at generation 1, and
   * the state is computed over them. The policy state is left undefined for
   * the policy engine to migrate. A record that does not authenticate stops
   * the upgrade (KH_STORAGE_INTEGRITY): repair or remove it first. A record
   * in the new format beside a pre-upgrade keyring means this store was
   * upgraded and its keyring put back (KH_STORAGE_ROLLBACK); the anchors
   * refuse a pre-upgrade keyring too (AnchorSet.check).
   */
  async #upgrade(ring: Keyring, digestKey: Uint8Array, generations: Map<string, number>): Promise<{ state: StorageState; ops: StorageOp[] }> {
    const digest = new Uint8Array(32);
    const ops: StorageOp[] = [];
    for (const key of await this.#backend.list(LOGICAL_PREFIX)) {
      const record = (await this.#backend.get(key))!;
      const path = key.slice(LOGICAL_PREFIX.length);
      if (record[0] === RECORD_VERSION) throw rollback('a keyring from before the storage upgrade beside records written after it');
      const plain = this.#decrypt(ring, path, record, RECORD_VERSION_V1);
      ops.push({ type: 'put', key, value: this.#encrypt(ring, path, plain, 1) });
      wipe(plain);
      generations.set(path, 1);
      xorInto(digest, recordTerm(digestKey, path, 1));
    }
    return { state: { generation: 1, digest, anchors: 0, policy: undefined }, ops };
  }

  /** Registers a callback run on every seal(), for caches of decrypted data above the barrier. */
  onSeal(listener: () => void): void {
    this.#sealListeners.push(listener);
  }

  /** Wipes the keyring from memory, and tells listeners to drop what they decrypted. Idempotent. */
  seal(): void {
    for (const l of this.#sealListeners) l();
    this.#epoch++;
    this.#keyring?.wipe();
    this.#keyring = undefined;
    wipe(this.#rootKey, this.#storedKeys, this.#digestKey);
    this.#rootKey = undefined;
    this.#storedKeys = undefined;
    this.#digestKey = undefined;
    this.#state = undefined;
    this.#generations.clear();
    this.#pending.clear();
    this.#anchors.stop();
  }

  /**
   * Adds a keyring term and makes it active. New writes use it at once; records
   * under older terms remain readable; no request waits on it.
   */
  async rotate(): Promise<TermInfo> {
    const next = this.#ring().withNewTerm();
    try {
      const keys = await this.sealWrapValue(KEYRING_PATH, next.serialize());
      await this.#commit([], { keys, ring: next });
    } catch (e) {
      next.wipe();
      throw e;
    }
    return next.terms().find((t) => t.term === next.activeTerm)!;
  }

  /**
   * Rewrites the keyring and every record of the seal-wrapped views as the
   * current wrapping says: wrapped under an HSM seal, plain when migrating
   * away from it. Idempotent; run after a seal migration.
   * @returns the number of records rewritten (keyring excluded)
   */
  async rewrapAll(): Promise<number> {
    const plain = this.#ring().serialize();
    const keys = await this.sealWrapValue(KEYRING_PATH, plain);
    try {
      await this.#commit([], { keys });
    } finally {
      // Unwrapped, `keys` is `plain` itself and now the cached stored keys: only a wrapped copy leaves `plain` spare.
      if (keys !== plain) wipe(plain);
    }
    let n = 0;
    for (const prefix of this.#wrappedPrefixes) {
      for (const path of await this.list(prefix)) {
        const record = await this.get(path);
        if (record === undefined) continue;
        const value = await this.sealUnwrapValue(path, record);
        if (isSealWrapped(record) === this.#wrapWrites) continue;
        await this.put(path, await this.sealWrapValue(path, value));
        n++;
      }
    }
    return n;
  }

  /** Re-encrypts the keyring under a new root key (root-key rotation, seal migration). */
  rewrapKeyringOp(newRootKey: Uint8Array): StorageOp {
    this.#ring();
    return this.#keyringOp(this.#state!, newRootKey);
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

  #encrypt(ring: Keyring, path: string, value: Uint8Array, generation: number): Uint8Array {
    const { term, key: dek } = ring.activeKey();
    const header = new Uint8Array(HEADER_BYTES);
    header[0] = RECORD_VERSION;
    new DataView(header.buffer).setUint32(1, term);
    header.set(writeU64(generation), 5);
    return concatBytes(header, aesGcmEncrypt(dek, value, recordAad(path, term, generation)));
  }

  /**
   * Encrypts a logical record into the physical op that stores it, at the
   * next generation. For records committed outside the barrier's own writes:
   * seed records at initialisation (withSeedRecords) and sealed blobs that
   * are never stored (key backups).
   */
  encryptOp(op: BarrierOp): StorageOp {
    validatePath(op.path);
    const key = LOGICAL_PREFIX + op.path;
    if (op.type === 'delete') return { type: 'delete', key };
    return { type: 'put', key, value: this.#encrypt(this.#ring(), op.path, op.value, this.#state!.generation + 1) };
  }

  #decrypt(ring: Keyring, path: string, record: Uint8Array, version?: number): Uint8Array {
    const fail = (why: string) => new KeyholdError('KH_STORAGE_INTEGRITY', undefined, { cause: new Error(`${why} at a barrier record`) });
    const v = record[0];
    if ((v !== RECORD_VERSION && v !== RECORD_VERSION_V1) || (version !== undefined && v !== version)) throw fail('unknown record version');
    const headerBytes = v === RECORD_VERSION ? HEADER_BYTES : HEADER_BYTES_V1;
    if (record.length < headerBytes) throw fail('short record');
    const term = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(1);
    const key = ring.keyForTerm(term);
    if (key === undefined) throw fail('unknown keyring term');
    const plain = aesGcmDecrypt(key, record.subarray(headerBytes), recordAad(path, term, v === RECORD_VERSION ? headerGeneration(record) : undefined));
    if (plain === undefined) throw fail('authentication failure');
    return plain;
  }

  /**
   * Authenticates a record made by encryptOp() (any generation, or a version
   * 1 record: key backups made before the upgrade stay readable).
   * @throws KeyholdError KH_STORAGE_INTEGRITY when the record fails authentication.
   */
  decryptRecord(path: string, record: Uint8Array): Uint8Array {
    return this.#decrypt(this.#ring(), path, record);
  }

  /** Refuses a stored record (or its absence) that is not what the storage state names. */
  #checkCurrent(path: string, record: Uint8Array | undefined): void {
    const expected = this.#generations.get(path);
    const pending = this.#pending.get(path);
    if (record === undefined) {
      if (expected !== undefined && pending !== null) throw rollback('a record was deleted outside Keyhold');
      return;
    }
    // A damaged header is an integrity failure, as before; decryption reports it.
    if (record[0] !== RECORD_VERSION || record.length < HEADER_BYTES) {
      if (record[0] === RECORD_VERSION_V1) throw rollback('a record from before the storage upgrade reappeared');
      return;
    }
    const g = headerGeneration(record);
    if (g === expected || (pending !== undefined && g === pending)) return;
    throw rollback(expected === undefined ? 'a record that Keyhold deleted (or never wrote) reappeared' : 'a record was replaced by another copy');
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    validatePath(path);
    this.#ring();
    const record = await this.#backend.get(LOGICAL_PREFIX + path);
    // Sealed meanwhile, or the keyring rotated: take the keyring as it is now.
    const ring = this.#ring();
    this.#checkCurrent(path, record);
    return record === undefined ? undefined : this.#decrypt(ring, path, record);
  }

  async put(path: string, value: Uint8Array): Promise<void> {
    await this.#commit([{ type: 'put', path, value }], {});
  }

  async delete(path: string): Promise<void> {
    await this.#commit([{ type: 'delete', path }], {});
  }

  /** Logical paths under `prefix`, ascending. */
  async list(prefix: string): Promise<string[]> {
    this.#ring();
    const keys = await this.#backend.list(LOGICAL_PREFIX + prefix);
    const paths = keys.map((k) => k.slice(LOGICAL_PREFIX.length));
    for (const p of paths) if (!this.#generations.has(p) && typeof this.#pending.get(p) !== 'number') throw rollback('a listed record is not in the storage state');
    return paths;
  }

  /** Applies logical writes atomically (all encrypted before anything is written). */
  async transaction(ops: readonly BarrierOp[], options: CommitOptions = {}): Promise<void> {
    await this.#commit(ops, options.policy === undefined ? {} : { policy: options.policy });
  }

  /** Commits run one at a time: each derives the next storage state from the last. */
  #commit(ops: readonly BarrierOp[], change: CommitChange): Promise<void> {
    for (const op of ops) validatePath(op.path);
    this.#ring();
    const run = this.#commits.then(() => this.#commitNow(ops, change));
    this.#commits = run.catch(() => undefined);
    return run;
  }

  async #commitNow(ops: readonly BarrierOp[], change: CommitChange): Promise<void> {
    const ring = this.#ring();
    // Checked here, in commit order, so queued writes cannot slip past a lagging anchor.
    this.#anchors.assertWritable();
    const epoch = this.#epoch;
    const state = this.#state!;
    const generation = state.generation + 1;
    const digest = state.digest.slice();
    const changes = new Map<string, number | null>();
    const physical: StorageOp[] = [];
    for (const op of ops) {
      const old = changes.has(op.path) ? changes.get(op.path) : this.#generations.get(op.path);
      if (old !== undefined && old !== null) xorInto(digest, recordTerm(this.#digestKey!, op.path, old));
      if (op.type === 'put') {
        xorInto(digest, recordTerm(this.#digestKey!, op.path, generation));
        changes.set(op.path, generation);
        physical.push({ type: 'put', key: LOGICAL_PREFIX + op.path, value: this.#encrypt(ring, op.path, op.value, generation) });
      } else {
        changes.set(op.path, null);
        physical.push({ type: 'delete', key: LOGICAL_PREFIX + op.path });
      }
    }
    let sealed = state.sealed;
    if (change.sealedOps !== undefined) {
      const values = new Map<string, Uint8Array | undefined>(change.sealedOps.map((op) => [op.key, op.type === 'put' ? op.value : undefined]));
      sealed = await this.#sealedHash(ring.indexKey, values);
      physical.push(...change.sealedOps);
    }
    const next: StorageState = {
      generation,
      digest,
      anchors: state.anchors | (change.anchorBits ?? 0),
      policy: change.policy ?? state.policy,
      sealed,
    };
    const previousKeys = this.#storedKeys;
    if (change.keys !== undefined) this.#storedKeys = change.keys;
    let keyringOp: StorageOp;
    try {
      keyringOp = this.#keyringOp(next, this.#rootKey!);
    } finally {
      this.#storedKeys = previousKeys;
    }
    physical.push(keyringOp);
    for (const [p, g] of changes) this.#pending.set(p, g);
    try {
      await this.#backend.transaction(physical);
      if (epoch !== this.#epoch) return;
      for (const [p, g] of changes) {
        if (g === null) this.#generations.delete(p);
        else this.#generations.set(p, g);
      }
      this.#state = next;
      if (change.keys !== undefined) {
        wipe(this.#storedKeys);
        this.#storedKeys = change.keys;
      }
      if (change.ring !== undefined) {
        this.#keyring = change.ring;
        ring.wipe();
      }
    } finally {
      if (epoch === this.#epoch) for (const p of changes.keys()) this.#pending.delete(p);
    }
    this.#anchors.bump(generation);
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

  async transaction(ops: readonly BarrierOp[], options: CommitOptions = {}): Promise<void> {
    const full: BarrierOp[] = [];
    for (const op of ops) {
      const path = this.#prefix + op.path;
      full.push(op.type === 'put' && this.#wraps(op.path) ? { type: 'put', path, value: await this.#barrier.sealWrapValue(path, op.value) } : { ...op, path });
    }
    return this.#barrier.transaction(full, options);
  }

  encryptOp(op: BarrierOp): StorageOp {
    // Synchronous, so it cannot seal-wrap (it serves seed records at initialisation, none of them critical).
    if (this.#wraps(op.path)) throw new TypeError('encryptOp is not available for a seal-wrapped record');
    return this.#barrier.encryptOp({ ...op, path: this.#prefix + op.path });
  }
}
