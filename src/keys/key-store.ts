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

  async delete(name: string): Promise<void> {
    const path = this.#path(name);
    await this.#view.delete(path);
    this.#cache.delete(path);
  }

  /** Every key (decrypting each record); callers sort and page. */
  async all(): Promise<ManagedKey[]> {
    const paths = await this.#view.list();
    const keys: ManagedKey[] = [];
    for (const path of paths) {
      const key = await this.#load(path);
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }
}
