/**
 * Persistence of key records through the barrier view `keys/`, with an
 * in-memory cache of parsed keys. The cache is dropped on seal; writes go
 * to storage first and replace the cache entry only once durable.
 */
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { KeyholdError } from '../errors.js';
import { decodeKeyRecord, encodeKeyRecord, type KeyRecord } from './key-record.js';
import { ManagedKey } from './managed-key.js';

const VIEW_PREFIX = 'keys/';
const INDEX_NAMESPACE = 'key';
/**
 * Tombstones of deleted keys (review of issue 15, finding 6): `t/` + the HMAC
 * of the name under another namespace, holding only the time of the latest
 * deletion, so a key backup cannot bring back a key that was deleted
 * (crypto-shredded) here. Written in the same transaction as the deletion.
 */
const TOMBSTONE_PREFIX = 't/';
const TOMBSTONE_NAMESPACE = 'key-tombstone';

export class KeyStore {
  readonly #view: BarrierView;
  readonly #cache = new Map<string, ManagedKey>();
  // name -> storage path, so the hot path skips the HMAC (5-8 µs) for known names.
  // The index key never changes while unsealed, so entries stay right until seal.
  readonly #paths = new Map<string, string>();

  constructor(barrier: Barrier) {
    this.#view = barrier.view(VIEW_PREFIX, { sealWrap: true });
    barrier.onSeal(() => {
      for (const k of this.#cache.values()) k.wipe();
      this.#cache.clear();
      this.#paths.clear();
    });
  }

  #path(name: string): string {
    let path = this.#paths.get(name);
    if (path === undefined) {
      path = this.#view.indexPath(INDEX_NAMESPACE, name);
      this.#paths.set(name, path);
    }
    return path;
  }

  async #load(path: string): Promise<ManagedKey | undefined> {
    const cached = this.#cache.get(path);
    if (cached !== undefined) return cached;
    const bytes = await this.#view.get(path);
    if (bytes === undefined) return undefined;
    const key = new ManagedKey(decodeKeyRecord(bytes));
    this.#cache.set(path, key);
    return key;
  }

  get(name: string): Promise<ManagedKey | undefined> {
    return this.#load(this.#path(name));
  }

  /** @throws KeyholdError KH_KEY_NOT_FOUND */
  async require(name: string): Promise<ManagedKey> {
    const key = await this.get(name);
    if (key === undefined) throw new KeyholdError('KH_KEY_NOT_FOUND', `no key named ${name}`);
    return key;
  }

  async put(record: KeyRecord): Promise<ManagedKey> {
    const path = this.#path(record.name);
    await this.#view.put(path, encodeKeyRecord(record));
    const key = new ManagedKey(record);
    this.#cache.set(path, key);
    return key;
  }

  #tombstonePath(name: string): string {
    return TOMBSTONE_PREFIX + this.#view.indexPath(TOMBSTONE_NAMESPACE, name);
  }

  /** Deletes the key and, in the same transaction, leaves its tombstone (`deletedAt`: ISO time). */
  async delete(name: string, deletedAt: string): Promise<void> {
    const path = this.#path(name);
    const tombstone = new TextEncoder().encode(JSON.stringify({ format: 1, deletedAt }));
    await this.#view.transaction([
      { type: 'delete', path },
      { type: 'put', path: this.#tombstonePath(name), value: tombstone },
    ]);
    this.#cache.delete(path);
  }

  /** When a key of this name was last deleted here, if ever. @throws KeyholdError KH_STORAGE_INTEGRITY for a damaged tombstone */
  async deletedAt(name: string): Promise<string | undefined> {
    const bytes = await this.#view.get(this.#tombstonePath(name));
    if (bytes === undefined) return undefined;
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { deletedAt?: unknown };
    if (typeof parsed.deletedAt !== 'string' || Number.isNaN(Date.parse(parsed.deletedAt))) throw new KeyholdError('KH_STORAGE_INTEGRITY', undefined, { cause: new Error('malformed key tombstone') });
    return parsed.deletedAt;
  }

  /** Every key (decrypting each record); callers sort and page. */
  async all(): Promise<ManagedKey[]> {
    const paths = (await this.#view.list()).filter((p) => !p.startsWith(TOMBSTONE_PREFIX));
    const keys: ManagedKey[] = [];
    for (const path of paths) {
      const key = await this.#load(path);
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }
}
