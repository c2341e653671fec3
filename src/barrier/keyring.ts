/**
 * The keyring: the barrier's data-encryption keys, one per term, plus the
 * index key that turns object names into storage paths.
 *
 * Terms only grow. Rotation adds a term and makes it active; older terms stay
 * so existing records decrypt. Serialised in a fixed binary layout (not JSON)
 * so every copy of key material is a Uint8Array that can be wiped:
 *
 *   version(1)=1 | activeTerm(u32) | indexKey(32) | count(u32) |
 *   count x [ term(u32) | installedAt ms (f64) | key(32) ]
 */
import { KeyholdError } from '../errors.js';
import { entropy } from '../crypto/random.js';
import { wipe } from '../crypto/bytes.js';

const FORMAT_VERSION = 1;
const KEY_BYTES = 32;
const ENTRY_BYTES = 4 + 8 + KEY_BYTES;
const HEADER_BYTES = 1 + 4 + KEY_BYTES + 4;

export interface TermInfo {
  readonly term: number;
  readonly installedAt: Date;
}

interface TermKey {
  readonly term: number;
  readonly installedAt: number;
  readonly key: Uint8Array;
}

export class Keyring {
  readonly #terms = new Map<number, TermKey>();
  readonly #indexKey: Uint8Array;
  #active: number;

  private constructor(indexKey: Uint8Array, terms: TermKey[], active: number) {
    this.#indexKey = indexKey;
    for (const t of terms) this.#terms.set(t.term, t);
    this.#active = active;
  }

  /** A new keyring with term 1 and a fresh index key, all from the entropy source. */
  static generate(now = Date.now()): Keyring {
    return new Keyring(entropy(KEY_BYTES, 'index-key'), [{ term: 1, installedAt: now, key: entropy(KEY_BYTES, 'keyring-term') }], 1);
  }

  /** @throws KeyholdError KH_STORAGE_INTEGRITY when the bytes are not a keyring. */
  static deserialize(bytes: Uint8Array): Keyring {
    const corrupt = () => new KeyholdError('KH_STORAGE_INTEGRITY', 'the keyring record is malformed');
    if (bytes.length < HEADER_BYTES || bytes[0] !== FORMAT_VERSION) throw corrupt();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const active = view.getUint32(1);
    const indexKey = bytes.slice(5, 5 + KEY_BYTES);
    const count = view.getUint32(5 + KEY_BYTES);
    if (bytes.length !== HEADER_BYTES + count * ENTRY_BYTES) throw corrupt();
    const terms: TermKey[] = [];
    for (let i = 0; i < count; i++) {
      const o = HEADER_BYTES + i * ENTRY_BYTES;
      terms.push({ term: view.getUint32(o), installedAt: view.getFloat64(o + 4), key: bytes.slice(o + 12, o + 12 + KEY_BYTES) });
    }
    if (!terms.some((t) => t.term === active)) throw corrupt();
    return new Keyring(indexKey, terms, active);
  }

  serialize(): Uint8Array {
    const terms = [...this.#terms.values()];
    const out = new Uint8Array(HEADER_BYTES + terms.length * ENTRY_BYTES);
    const view = new DataView(out.buffer);
    out[0] = FORMAT_VERSION;
    view.setUint32(1, this.#active);
    out.set(this.#indexKey, 5);
    view.setUint32(5 + KEY_BYTES, terms.length);
    terms.forEach((t, i) => {
      const o = HEADER_BYTES + i * ENTRY_BYTES;
      view.setUint32(o, t.term);
      view.setFloat64(o + 4, t.installedAt);
      out.set(t.key, o + 12);
    });
    return out;
  }

  get activeTerm(): number {
    return this.#active;
  }

  activeKey(): { term: number; key: Uint8Array } {
    const t = this.#terms.get(this.#active)!;
    return { term: t.term, key: t.key };
  }

  keyForTerm(term: number): Uint8Array | undefined {
    return this.#terms.get(term)?.key;
  }

  get indexKey(): Uint8Array {
    return this.#indexKey;
  }

  /** A copy with one more term, active. The receiver is unchanged (so a failed write leaves it intact). */
  withNewTerm(now = Date.now()): Keyring {
    const term = this.#active + 1;
    const terms: TermKey[] = [...this.#terms.values()].map((t) => ({ ...t, key: t.key.slice() }));
    terms.push({ term, installedAt: now, key: entropy(KEY_BYTES, 'keyring-term') });
    return new Keyring(this.#indexKey.slice(), terms, term);
  }

  terms(): TermInfo[] {
    return [...this.#terms.values()].map((t) => ({ term: t.term, installedAt: new Date(t.installedAt) }));
  }

  /** Zeroes every key this keyring holds. */
  wipe(): void {
    wipe(this.#indexKey, ...[...this.#terms.values()].map((t) => t.key));
    this.#terms.clear();
  }
}
