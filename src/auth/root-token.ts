/**
 * Root tokens: the break-glass credential (Vault's root tokens).
 *
 * A token is "khr." + base64url(32 random bytes). Storage holds only the
 * record at sys/token/<HMAC(index key, token)>, so neither the database nor a
 * backup reveals a usable token. Verification recomputes the HMAC (the
 * comparison is the storage lookup itself; no secret is compared in JS).
 *
 * As in Vault, a root token should live only as long as the task that needs
 * it (docs/authentication.md "Root tokens"): every root token has an accessor that
 * names it without granting anything (listed, and revocable by an
 * authorised caller), can revoke itself, may carry a TTL, and is revoked by
 * `revoke --all` with every session.
 */
import { createHash } from 'node:crypto';
import { entropy } from '../crypto/random.js';
import { toBase64Url, utf8 } from '../crypto/bytes.js';
import { KeyholdError } from '../errors.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import type { StorageOp } from '../storage/backend.js';

export const ROOT_TOKEN_PREFIX = 'khr.';
export const ROOT_ACCESSOR_PREFIX = 'khra.';
const VIEW_PREFIX = 'sys/token/';
const INDEX_NAMESPACE = 'token';
/** Longer values are refused before any hashing. */
export const MAX_TOKEN_LENGTH = 256;
/** Longest TTL a root token may be given: a year (without one it lives until revoked, as Vault's initial root token). */
export const MAX_ROOT_TTL_SECONDS = 366 * 86400;
// A verified token is trusted from memory this long, so a revocation on another node sharing the storage takes effect within it
// (on this node it is immediate: revocation drops the entry).
const KNOWN_FOR_MS = 5_000;

/** How a root token came to be. */
export type RootTokenOrigin = 'init' | 'generate-root' | 'dev';

interface RootRecord {
  kind: 'root';
  createdAt: string;
  origin?: RootTokenOrigin;
  /** ISO time after which the token no longer works. */
  expiresAt?: string;
}

export interface RootTokenInfo {
  /** Names the token without granting anything (Vault's token accessor). */
  accessor: string;
  createdAt: string;
  origin?: RootTokenOrigin;
  expiresAt?: string;
}

export interface RootTokenOptions {
  origin?: RootTokenOrigin;
  /** Seconds until the token stops working; absent: until revoked. */
  ttlSeconds?: number;
}

function rootRecord(options: RootTokenOptions, now = Date.now()): RootRecord {
  return {
    kind: 'root',
    createdAt: new Date(now).toISOString(),
    ...(options.origin === undefined ? {} : { origin: options.origin }),
    ...(options.ttlSeconds === undefined ? {} : { expiresAt: new Date(now + options.ttlSeconds * 1000).toISOString() }),
  };
}

/**
 * The accessor of the record at `path` (the token's HMAC): derived, so tokens
 * minted before accessors existed have one too; it reveals nothing the
 * storage path does not.
 */
function accessorOf(path: string): string {
  return ROOT_ACCESSOR_PREFIX + toBase64Url(createHash('sha256').update(`keyhold-root-token-accessor\0${path}`).digest().subarray(0, 18));
}

export function generateRootToken(): string {
  return ROOT_TOKEN_PREFIX + toBase64Url(entropy(32, 'root-token'));
}

/** Rules for caller-chosen dev tokens (as Vault's -dev-root-token-id). */
export function isAcceptableToken(token: string): boolean {
  return token.length >= 1 && token.length <= MAX_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(token);
}

/** @throws KeyholdError KH_INPUT_INVALID for a TTL outside 1 s .. MAX_ROOT_TTL_SECONDS */
export function checkRootTtl(ttlSeconds: number | undefined): void {
  if (ttlSeconds !== undefined && (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_ROOT_TTL_SECONDS))
    throw new KeyholdError('KH_INPUT_INVALID', `a root token TTL is 1 to ${MAX_ROOT_TTL_SECONDS} seconds`);
}

export class RootTokens {
  readonly #view: BarrierView;
  // Verified token paths -> until when they may be trusted without a storage read; cleared whenever the barrier is sealed.
  readonly #known = new Map<string, number>();
  // Bumped by every revocation. A verify() whose storage read started before a revocation must not cache what it
  // read (the record may have been deleted meanwhile): it would put a revoked token back in #known for 5 s.
  #revocations = 0;

  constructor(barrier: Barrier) {
    this.#view = barrier.view(VIEW_PREFIX);
    barrier.onSeal(() => this.#known.clear());
  }

  /** The physical op that stores `token` (for the init transaction). The barrier must hold a keyring. */
  static seedOp(barrier: Barrier, token: string, options: RootTokenOptions = { origin: 'init' }): StorageOp {
    const view = barrier.view(VIEW_PREFIX);
    return view.encryptOp({ type: 'put', path: view.indexPath(INDEX_NAMESPACE, token), value: utf8(JSON.stringify(rootRecord(options))) });
  }

  /** Stores a new root token and returns it. @throws KeyholdError KH_INPUT_INVALID for a bad TTL */
  async create(token = generateRootToken(), options: RootTokenOptions = {}): Promise<string> {
    checkRootTtl(options.ttlSeconds);
    await this.#view.put(this.#view.indexPath(INDEX_NAMESPACE, token), utf8(JSON.stringify(rootRecord(options))));
    return token;
  }

  async #record(path: string): Promise<RootRecord | undefined> {
    const bytes = await this.#view.get(path);
    return bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as RootRecord);
  }

  /** True when `token` is a live root token (stored, not revoked, not expired). Throws KH_SEALED while sealed. */
  async verify(token: string, now = Date.now()): Promise<boolean> {
    if (!isAcceptableToken(token)) return false;
    const path = this.#view.indexPath(INDEX_NAMESPACE, token);
    if ((this.#known.get(path) ?? 0) > now) return true;
    this.#known.delete(path);
    const epoch = this.#revocations;
    let record = await this.#record(path);
    // A revocation ran while the record was being read: read again, now that it has (or is about to have) deleted it.
    if (epoch !== this.#revocations) record = await this.#record(path);
    if (record === undefined) return false;
    const expires = record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt);
    if (expires <= now) {
      // Expired: gone for good, so it no longer shows in the list either.
      await this.#view.delete(path);
      return false;
    }
    // Cached only when no revocation started since the read began; otherwise the answer holds for this request alone.
    if (epoch === this.#revocations) this.#known.set(path, Math.min(expires, now + KNOWN_FOR_MS));
    return true;
  }

  /** The accessor and facts of a live root token, or undefined. */
  async lookup(token: string, now = Date.now()): Promise<RootTokenInfo | undefined> {
    if (!(await this.verify(token, now))) return undefined;
    const path = this.#view.indexPath(INDEX_NAMESPACE, token);
    const record = await this.#record(path);
    return record === undefined ? undefined : info(path, record);
  }

  /** Every live root token, by accessor (expired ones are dropped as they are found). */
  async list(now = Date.now()): Promise<RootTokenInfo[]> {
    const out: RootTokenInfo[] = [];
    for (const path of await this.#view.list()) {
      const record = await this.#record(path);
      if (record === undefined) continue;
      if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) {
        await this.#view.delete(path);
        continue;
      }
      out.push(info(path, record));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Revokes the root token itself; returns whether it was live. */
  async revokeToken(token: string): Promise<boolean> {
    if (!isAcceptableToken(token)) return false;
    return this.#revokePath(this.#view.indexPath(INDEX_NAMESPACE, token));
  }

  /** @throws KeyholdError KH_ROOT_TOKEN_NOT_FOUND when no live root token has this accessor */
  async revokeAccessor(accessor: string): Promise<void> {
    for (const path of await this.#view.list()) {
      if (accessorOf(path) === accessor && (await this.#revokePath(path))) return;
    }
    throw new KeyholdError('KH_ROOT_TOKEN_NOT_FOUND');
  }

  /** Revokes every root token; returns how many there were. */
  async revokeAll(): Promise<number> {
    let n = 0;
    for (const path of await this.#view.list()) if (await this.#revokePath(path)) n++;
    return n;
  }

  async #revokePath(path: string): Promise<boolean> {
    // Bumped before and after the delete: a read in flight on either side of it is never cached.
    this.#revocations++;
    this.#known.delete(path);
    if ((await this.#view.get(path)) === undefined) return false;
    await this.#view.delete(path);
    this.#revocations++;
    this.#known.delete(path);
    return true;
  }
}

function info(path: string, record: RootRecord): RootTokenInfo {
  return {
    accessor: accessorOf(path),
    createdAt: record.createdAt,
    ...(record.origin === undefined ? {} : { origin: record.origin }),
    ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt }),
  };
}
