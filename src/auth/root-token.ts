/**
 * Root tokens: the only credential until identities and sessions land.
 *
 * A token is "khr." + base64url(32 random bytes). Storage holds only the
 * record at sys/token/<HMAC(index key, token)>, so neither the database nor a
 * backup reveals a usable token. Verification recomputes the HMAC (the
 * comparison is the storage lookup itself; no secret is compared in JS).
 */
import { entropy } from '../crypto/random.js';
import { toBase64Url, utf8 } from '../crypto/bytes.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import type { StorageOp } from '../storage/backend.js';

export const ROOT_TOKEN_PREFIX = 'khr.';
const VIEW_PREFIX = 'sys/token/';
const INDEX_NAMESPACE = 'token';
/** Longer values are refused before any hashing. */
export const MAX_TOKEN_LENGTH = 256;

function rootRecord(): Uint8Array {
  return utf8(JSON.stringify({ kind: 'root', createdAt: new Date().toISOString() }));
}

export function generateRootToken(): string {
  return ROOT_TOKEN_PREFIX + toBase64Url(entropy(32, 'root-token'));
}

/** Rules for caller-chosen dev tokens (as Vault's -dev-root-token-id). */
export function isAcceptableToken(token: string): boolean {
  return token.length >= 1 && token.length <= MAX_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(token);
}

export class RootTokens {
  readonly #view: BarrierView;
  // Verified token paths, so the hot path costs one HMAC; cleared whenever the barrier is sealed.
  readonly #known = new Set<string>();

  constructor(barrier: Barrier) {
    this.#view = barrier.view(VIEW_PREFIX);
    barrier.onSeal(() => this.#known.clear());
  }

  /** The physical op that stores `token` (for the init transaction). The barrier must hold a keyring. */
  static seedOp(barrier: Barrier, token: string): StorageOp {
    const view = barrier.view(VIEW_PREFIX);
    return view.encryptOp({ type: 'put', path: view.indexPath(INDEX_NAMESPACE, token), value: rootRecord() });
  }

  /** Stores a new root token and returns it. */
  async create(token = generateRootToken()): Promise<string> {
    await this.#view.put(this.#view.indexPath(INDEX_NAMESPACE, token), rootRecord());
    return token;
  }

  /** True when `token` is a live root token. Throws KH_SEALED while sealed. */
  async verify(token: string): Promise<boolean> {
    if (!isAcceptableToken(token)) return false;
    const path = this.#view.indexPath(INDEX_NAMESPACE, token);
    if (this.#known.has(path)) return true;
    const ok = (await this.#view.get(path)) !== undefined;
    if (ok) this.#known.add(path);
    return ok;
  }
}
