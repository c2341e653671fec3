/**
 * Persistence of secrets through the barrier view `secrets/` (seal-wrapped:
 * secret values are critical security parameters like key material).
 * Storage paths carry only HMAC(index key, secret path) and version numbers;
 * the path itself exists only inside the encrypted metadata record.
 */
import type { Barrier, BarrierOp, BarrierView } from '../barrier/barrier.js';
import { decodeMetadata, decodeVersion, encodeRecord, type SecretMetadataRecord, type SecretVersionRecord } from './secret-record.js';

const VIEW_PREFIX = 'secrets/';
const INDEX_NAMESPACE = 'secret';
const META = 'm/';
const VERSIONS = 'v/';

export type SecretWrite = { type: 'meta'; record: SecretMetadataRecord } | { type: 'version'; path: string; record: SecretVersionRecord } | { type: 'drop-version'; path: string; version: number } | { type: 'drop-meta'; path: string };

export class SecretStore {
  readonly #view: BarrierView;

  constructor(barrier: Barrier) {
    this.#view = barrier.view(VIEW_PREFIX, { sealWrap: true });
  }

  #id(path: string): string {
    return this.#view.indexPath(INDEX_NAMESPACE, path);
  }

  async metadata(path: string): Promise<SecretMetadataRecord | undefined> {
    const bytes = await this.#view.get(META + this.#id(path));
    return bytes === undefined ? undefined : decodeMetadata(bytes);
  }

  async version(path: string, version: number): Promise<SecretVersionRecord | undefined> {
    const bytes = await this.#view.get(`${VERSIONS}${this.#id(path)}/${version}`);
    return bytes === undefined ? undefined : decodeVersion(bytes);
  }

  /** Applies the writes of one change atomically (a new version and its metadata, a pruning, a destroy). */
  async commit(writes: readonly SecretWrite[]): Promise<void> {
    const ops: BarrierOp[] = writes.map((w) => {
      switch (w.type) {
        case 'meta':
          return { type: 'put', path: META + this.#id(w.record.path), value: encodeRecord(w.record) };
        case 'version':
          return { type: 'put', path: `${VERSIONS}${this.#id(w.path)}/${w.record.version}`, value: encodeRecord(w.record) };
        case 'drop-version':
          return { type: 'delete', path: `${VERSIONS}${this.#id(w.path)}/${w.version}` };
        case 'drop-meta':
          return { type: 'delete', path: META + this.#id(w.path) };
      }
    });
    if (ops.length > 0) await this.#view.transaction(ops);
  }

  /** Every metadata record (decrypting each); callers filter by path. */
  async allMetadata(): Promise<SecretMetadataRecord[]> {
    const out: SecretMetadataRecord[] = [];
    for (const p of await this.#view.list(META)) {
      const bytes = await this.#view.get(p);
      if (bytes !== undefined) out.push(decodeMetadata(bytes));
    }
    return out;
  }
}
