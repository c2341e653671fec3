/**
 * AWS-style access keys: an access key id and a secret access key that
 * Keyhold issues for one of its users or machines, so AWS SDKs and the AWS
 * CLI can call the KMS-compatible API with ordinary AWS credentials. Requests
 * are verified with AWS Signature Version 4 (sigv4.ts).
 *
 * SigV4 is an HMAC under a key derived from the secret, so the server must
 * keep the secret itself (not a hash): records live at
 * auth/access-keys/<HMAC(index key, access key id)>, barrier-encrypted and
 * seal-wrapped like the other critical secrets (TOTP, key material). The
 * secret is answered once, by create(). Identity names live only inside the
 * encrypted records.
 *
 * A key acts as its identity with that identity's groups, read with the
 * key's record and again at least every CACHE_TTL_MS; a deleted identity
 * (or one deleted and created again under the same name) makes its keys
 * useless, at once on this node (Users/Machines.onDelete) and within
 * CACHE_TTL_MS on others. Decoded records, the identity and the SigV4
 * signing key of the current day are cached in memory until the barrier
 * seals; delete() evicts at once, so a deleted key stops working on this
 * node immediately (other nodes within CACHE_TTL_MS). lastUsedAt is kept in
 * a separate record, written at most
 * once a minute per key, so a late write can never resurrect a deleted key.
 */
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { utf8, wipe } from '../crypto/bytes.js';
import { entropy } from '../crypto/random.js';
import { KeyholdError } from '../errors.js';
import type { Machines } from './machines.js';
import type { Principal } from './principal.js';
import { checkSigV4Scope, parseSigV4Request, secretKeyBytes, signingKey, verifySigV4Signature, type SigV4Request } from './sigv4.js';
import { IDENTITY_NAME, type Users } from './users.js';

export type { SigV4Request } from './sigv4.js';

export interface AccessKeyInfo {
  accessKeyId: string;
  principalType: 'User' | 'Machine';
  principalName: string;
  description: string;
  createdAt: string;
  lastUsedAt?: string;
}

interface AccessKeyRecord {
  accessKeyId: string;
  secretAccessKey: string;
  principalType: 'User' | 'Machine';
  principalName: string;
  /** createdAt of the identity when the key was issued: a re-created identity of the same name does not inherit the key. */
  principalCreatedAt: string;
  description: string;
  createdAt: string;
}

interface CacheEntry {
  readonly info: Omit<AccessKeyRecord, 'secretAccessKey'>;
  /** "AWS4" + secret, wiped on seal and on delete. */
  readonly kSecret: Uint8Array;
  readonly loadedAt: number;
  /** When lastUsedAt was last written (ms), so a busy key writes at most once a minute. */
  lastUsedWrittenAt: number;
  /**
   * The identity's groups and createdAt as last read (each request would
   * otherwise read and decrypt the user or machine record), dropped with the
   * entry, and at once when that identity is deleted on this node.
   */
  identity?: { readonly groups: readonly string[]; readonly createdAt: string } | undefined;
  /** SigV4 signing key for one scope (date/region/service), derived once per day instead of four HMACs a request. */
  derived?: { readonly scope: string; readonly key: Buffer } | undefined;
}

function wipeEntry(e: CacheEntry): void {
  wipe(e.kSecret);
  e.derived?.key.fill(0);
}

/** "KHAK" + 16 base32 characters: 20 characters like an AWS id (AKIA…), 80 random bits, recognisably Keyhold's. */
export const ACCESS_KEY_ID_PREFIX = 'KHAK';
export const ACCESS_KEY_ID = /^KHAK[A-Z2-7]{16}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const MAX_DESCRIPTION_LENGTH = 256;
const LAST_USED_INTERVAL_MS = 60_000;
/** How long a cached record is trusted before it is read again (bounds how long another node may honour a deleted key). */
export const CACHE_TTL_MS = 30_000;
const MAX_CACHE = 10_000;
const MAX_KEYS_PER_LIST = 100_000;

function newAccessKeyId(): string {
  const bytes = entropy(10, 'access-key-id');
  let bits = 0;
  let acc = 0;
  let out = ACCESS_KEY_ID_PREFIX;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31];
    }
  }
  return out;
}

/** 40 characters of standard base64 over 240 bits, the shape of an AWS secret access key. */
function newSecretAccessKey(): string {
  const bytes = entropy(30, 'access-key-secret');
  try {
    return Buffer.from(bytes).toString('base64');
  } finally {
    wipe(bytes);
  }
}

const decode = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

export class AccessKeys {
  readonly #keys: BarrierView;
  readonly #usage: BarrierView;
  readonly #users: Users;
  readonly #machines: Machines;
  readonly #region: string;
  readonly #now: () => Date;
  readonly #cache = new Map<string, CacheEntry>();
  /** Bumped on seal and delete, so a load that started before them does not refill the cache. */
  #generation = 0;

  constructor(barrier: Barrier, deps: { users: Users; machines: Machines; region: string; now?: () => Date }) {
    this.#keys = barrier.view('auth/access-keys/', { sealWrap: true });
    this.#usage = barrier.view('auth/access-key-usage/');
    this.#users = deps.users;
    this.#machines = deps.machines;
    this.#region = deps.region;
    this.#now = deps.now ?? (() => new Date());
    barrier.onSeal(() => this.#clear());
    const forget = (type: 'User' | 'Machine') => (name: string) => {
      for (const e of this.#cache.values()) if (e.info.principalType === type && e.info.principalName === name) e.identity = undefined;
    };
    deps.users.onDelete(forget('User'));
    deps.machines.onDelete(forget('Machine'));
  }

  #clear(): void {
    this.#generation++;
    for (const e of this.#cache.values()) wipeEntry(e);
    this.#cache.clear();
  }

  #path(accessKeyId: string): string {
    return this.#keys.indexPath('access-key', accessKeyId);
  }

  async #read(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
    const bytes = await this.#keys.get(this.#path(accessKeyId));
    if (bytes === undefined) return undefined;
    try {
      return decode(bytes) as AccessKeyRecord;
    } finally {
      wipe(bytes);
    }
  }

  async #lastUsed(accessKeyId: string): Promise<string | undefined> {
    const bytes = await this.#usage.get(this.#path(accessKeyId));
    return bytes === undefined ? undefined : (decode(bytes) as { lastUsedAt: string }).lastUsedAt;
  }

  /** The cached entry for an id, loaded from storage when missing or older than CACHE_TTL_MS. */
  async #entry(accessKeyId: string): Promise<CacheEntry | undefined> {
    const nowMs = this.#now().getTime();
    const cached = this.#cache.get(accessKeyId);
    if (cached !== undefined && nowMs - cached.loadedAt < CACHE_TTL_MS && nowMs >= cached.loadedAt) return cached;
    const generation = this.#generation;
    const record = await this.#read(accessKeyId);
    if (record === undefined) {
      this.#cache.delete(accessKeyId);
      return undefined;
    }
    const { secretAccessKey, ...info } = record;
    const entry: CacheEntry = { info, kSecret: secretKeyBytes(secretAccessKey), loadedAt: nowMs, lastUsedWrittenAt: cached?.lastUsedWrittenAt ?? 0 };
    // Sealed or deleted while this load was in flight: answer this caller, but do not cache.
    if (generation !== this.#generation) return entry;
    // A replaced or evicted entry is not wiped here: a request that already holds it may still be verifying with it.
    if (this.#cache.size >= MAX_CACHE && !this.#cache.has(accessKeyId)) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(accessKeyId, entry);
    return entry;
  }

  /** The identity's current groups and createdAt, or undefined when it does not exist. */
  async #identity(type: 'User' | 'Machine', name: string): Promise<{ groups: string[]; createdAt: string } | undefined> {
    if (!IDENTITY_NAME.test(name)) return undefined;
    try {
      const found = type === 'User' ? await this.#users.read(name) : await this.#machines.read(name);
      return { groups: [...found.groups], createdAt: found.createdAt };
    } catch (e) {
      if (e instanceof KeyholdError && e.code === 'KH_IDENTITY_NOT_FOUND') return undefined;
      throw e;
    }
  }

  /**
   * Issues a key for an existing user or machine. The secret is in this
   * answer only.
   * @throws KeyholdError KH_IDENTITY_NOT_FOUND, KH_INPUT_INVALID (description too long or with control characters)
   */
  async create(input: { principalType: 'User' | 'Machine'; principalName: string; description?: string }): Promise<AccessKeyInfo & { secretAccessKey: string }> {
    const description = input.description ?? '';
    // eslint-disable-next-line no-control-regex
    if (description.length > MAX_DESCRIPTION_LENGTH || /[\u0000-\u001f\u007f]/.test(description))
      throw new KeyholdError('KH_INPUT_INVALID', `a description is at most ${MAX_DESCRIPTION_LENGTH} characters, without control characters`);
    const identity = await this.#identity(input.principalType, input.principalName);
    if (identity === undefined) throw new KeyholdError('KH_IDENTITY_NOT_FOUND');
    const accessKeyId = newAccessKeyId();
    const record: AccessKeyRecord = {
      accessKeyId,
      secretAccessKey: newSecretAccessKey(),
      principalType: input.principalType,
      principalName: input.principalName,
      principalCreatedAt: identity.createdAt,
      description,
      createdAt: this.#now().toISOString(),
    };
    // 80 random bits: a collision is not a practical concern, but never overwrite a live key's secret.
    if ((await this.#read(accessKeyId)) !== undefined) throw new KeyholdError('KH_INTERNAL', undefined, { cause: new Error('access key id collision') });
    await this.#keys.put(this.#path(accessKeyId), utf8(JSON.stringify(record)));
    const { principalCreatedAt: _, ...answer } = record;
    return answer;
  }

  /** Every key, without secrets, oldest first. */
  async list(): Promise<AccessKeyInfo[]> {
    const out: AccessKeyInfo[] = [];
    for (const path of (await this.#keys.list()).slice(0, MAX_KEYS_PER_LIST)) {
      const bytes = await this.#keys.get(path);
      if (bytes === undefined) continue;
      let r: AccessKeyRecord;
      try {
        r = decode(bytes) as AccessKeyRecord;
      } finally {
        wipe(bytes);
      }
      const lastUsedAt = await this.#lastUsed(r.accessKeyId);
      out.push({
        accessKeyId: r.accessKeyId,
        principalType: r.principalType,
        principalName: r.principalName,
        description: r.description,
        createdAt: r.createdAt,
        ...(lastUsedAt !== undefined && { lastUsedAt }),
      });
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.accessKeyId.localeCompare(b.accessKeyId));
  }

  /** The identity a key acts as (what deleting it is authorised against), or undefined when there is no such key. */
  async owner(accessKeyId: string): Promise<{ principalType: 'User' | 'Machine'; principalName: string } | undefined> {
    if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
    const record = await this.#read(accessKeyId);
    return record === undefined ? undefined : { principalType: record.principalType, principalName: record.principalName };
  }

  /**
   * Deletes a key; it is refused from the next request on (on this node).
   * @throws KeyholdError KH_ACCESS_KEY_NOT_FOUND
   */
  async delete(accessKeyId: string): Promise<void> {
    if ((await this.#read(accessKeyId)) === undefined) throw new KeyholdError('KH_ACCESS_KEY_NOT_FOUND');
    const path = this.#path(accessKeyId);
    await this.#keys.delete(path);
    await this.#usage.delete(path);
    this.#generation++;
    const cached = this.#cache.get(accessKeyId);
    this.#cache.delete(accessKeyId);
    if (cached !== undefined) wipeEntry(cached);
  }

  /**
   * Verifies a SigV4 header-signed request for `service` (e.g. 'kms'); returns the mapped principal.
   * Order: form, then scope and clock (no secret involved), then the key, then the signature, then the identity.
   * @throws KeyholdError KH_SIGV4_MISSING, KH_SIGV4_MALFORMED, KH_SIGV4_SCOPE_INVALID, KH_SIGV4_EXPIRED,
   *   KH_SIGV4_UNKNOWN_ACCESS_KEY (no such key, or its identity no longer exists), KH_SIGV4_SIGNATURE_MISMATCH
   */
  async authenticate(request: SigV4Request, service: string): Promise<{ principal: Principal; accessKeyId: string; region: string }> {
    const credentials = parseSigV4Request(request);
    const now = this.#now();
    checkSigV4Scope(credentials, { service, region: this.#region, now });
    const entry = await this.#entry(credentials.accessKeyId);
    if (entry === undefined) throw new KeyholdError('KH_SIGV4_UNKNOWN_ACCESS_KEY');
    const scope = `${credentials.scopeDate}/${credentials.region}/${credentials.service}`;
    if (entry.derived?.scope !== scope) {
      entry.derived?.key.fill(0);
      entry.derived = { scope, key: signingKey(entry.kSecret, credentials.scopeDate, credentials.region, credentials.service) };
    }
    verifySigV4Signature(request, credentials, entry.kSecret, entry.derived.key);

    const { principalType, principalName, principalCreatedAt, accessKeyId } = entry.info;
    const identity = entry.identity ?? (await this.#identity(principalType, principalName));
    if (identity === undefined || identity.createdAt !== principalCreatedAt)
      throw new KeyholdError('KH_SIGV4_UNKNOWN_ACCESS_KEY', 'the identity this access key belongs to no longer exists');
    entry.identity = identity;
    await this.#touch(entry, now);
    const principal: Principal = Object.freeze({ type: principalType, id: principalName, groups: Object.freeze(identity.groups), amr: Object.freeze(['sigv4']) });
    return { principal, accessKeyId, region: credentials.region };
  }

  /** Records lastUsedAt, at most once a minute per key; advisory, so a failed write does not fail the request. */
  async #touch(entry: CacheEntry, now: Date): Promise<void> {
    const nowMs = now.getTime();
    if (nowMs - entry.lastUsedWrittenAt < LAST_USED_INTERVAL_MS && nowMs >= entry.lastUsedWrittenAt) return;
    // Claimed before the write, so concurrent requests do not all write.
    entry.lastUsedWrittenAt = nowMs;
    try {
      await this.#usage.put(this.#path(entry.info.accessKeyId), utf8(JSON.stringify({ lastUsedAt: now.toISOString() })));
    } catch {
      // Sealed or storage trouble: the request itself was authenticated; the next one retries after the interval.
    }
  }
}
