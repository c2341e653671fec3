/**
 * Key lifecycle: create, read, list, configure, rotate, trim, enable,
 * disable, schedule and cancel deletion, export (exportable keys only).
 * Mutations of one key are serialised so concurrent rotations cannot lose a
 * version. Deletion is scheduled (7-30 days, as KMS) and carried out lazily
 * on the first access after the date.
 */
import { KeyholdError } from '../errors.js';
import { entropy } from '../crypto/random.js';
import { toBase64 } from '../crypto/bytes.js';
import { x25519Generate } from '../crypto/agreement/x25519.js';
import type { Barrier } from '../barrier/barrier.js';
import { checkKeyName } from './key-name.js';
import { specOf } from './key-types.js';
import { DEFAULT_KEY_TYPE, isKeyType, MAX_DELETION_DAYS, MIN_DELETION_DAYS, type KeyType } from './key-type-names.js';
import type { KeyRecord, KeyVersionRecord } from './key-record.js';
import { KeyStore } from './key-store.js';
import { importVersion, type ImportMaterial } from './key-import.js';
import type { ManagedKey } from './managed-key.js';

export { MIN_DELETION_DAYS, MAX_DELETION_DAYS } from './key-type-names.js';
const DAY_MS = 86_400_000;

export interface CreateKeyInput {
  name: string;
  type?: string;
  description?: string;
  tags?: Record<string, string>;
  exportable?: boolean;
  legacy?: boolean;
  sealWrap?: boolean;
  autoRotatePeriodSeconds?: number;
}

export interface UpdateKeyInput {
  description?: string;
  tags?: Record<string, string>;
  minDecryptionVersion?: number;
  minEncryptionVersion?: number;
  autoRotatePeriodSeconds?: number;
}

/** Generates the material of one new version from the entropy source (RSA: see crypto/signature/rsa.ts). */
export function generateVersion(type: KeyType, version: number, now: string): KeyVersionRecord {
  const spec = specOf(type);
  const pair = spec.kind === 'signature' ? spec.scheme.generate() : spec.kind === 'agreement' ? x25519Generate() : spec.kind === 'kem' ? spec.kem.generate() : undefined;
  if (pair !== undefined) return { version, createdAt: now, secret: toBase64(pair.secret), publicKey: toBase64(pair.publicKey) };
  return { version, createdAt: now, secret: toBase64(entropy((spec as { keyBytes: number }).keyBytes)) };
}

/** The record with one more, freshly generated, current version. */
function addVersion(r: KeyRecord, now: string): KeyRecord {
  const version = r.latestVersion + 1;
  return { ...r, latestVersion: version, lastRotatedAt: now, versions: [...r.versions, generateVersion(r.type, version, now)] };
}

/** Automatic rotation periods: at least an hour, at most ten years. */
function checkRotatePeriod(seconds: number | undefined): void {
  if (seconds !== undefined && seconds !== 0 && (seconds < 3600 || seconds > 315_360_000))
    throw new KeyholdError('KH_KEY_CONFIG_INVALID', 'autoRotatePeriodSeconds must be 0 (off) or between 3600 and 315360000');
}

export class KeyManager {
  readonly store: KeyStore;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #now: () => Date;

  constructor(barrier: Barrier, options: { now?: () => Date } = {}) {
    this.store = new KeyStore(barrier);
    this.#now = options.now ?? (() => new Date());
  }

  /** Serialises mutations of one key. */
  async #withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    }
  }

  /** Deletes a key whose deletion date has passed (reporting it as not found); otherwise returns it. */
  async #expire(name: string): Promise<ManagedKey> {
    checkKeyName(name);
    const key = await this.store.require(name);
    const r = key.record;
    if (r.state === 'pending-deletion' && r.deletionDate !== undefined && Date.parse(r.deletionDate) <= this.#now().getTime()) {
      await this.#withLock(name, () => this.store.delete(name));
      throw new KeyholdError('KH_KEY_NOT_FOUND', `no key named ${name}`);
    }
    return key;
  }

  #rotationDue(r: KeyRecord): boolean {
    return r.autoRotatePeriodSeconds > 0 && r.state === 'enabled' && Date.parse(r.lastRotatedAt) + r.autoRotatePeriodSeconds * 1000 <= this.#now().getTime();
  }

  /**
   * The key, with due housekeeping applied: a key past its deletion date is
   * deleted (and reported as not found); a key due for automatic rotation is rotated.
   * @throws KeyholdError KH_KEY_NOT_FOUND
   */
  async get(name: string): Promise<ManagedKey> {
    const key = await this.#expire(name);
    if (!this.#rotationDue(key.record)) return key;
    // Re-checked under the lock, so concurrent first uses rotate once.
    return this.#change(name, (r, now) => (this.#rotationDue(r) ? addVersion(r, now) : r));
  }

  /** Creates a key with freshly generated material. */
  create(input: CreateKeyInput): Promise<ManagedKey> {
    return this.#createWith(input, (type, now) => ({ record: generateVersion(type, 1, now), publicOnly: false }));
  }

  /**
   * Creates a key from existing material (the unwrapped half of BYOK, and
   * test vectors). A public key alone makes a verify-only key.
   * @throws KeyholdError KH_INPUT_INVALID for material that is not a key of the type
   */
  importKey(input: CreateKeyInput & ImportMaterial): Promise<ManagedKey> {
    return this.#createWith(input, (type, now) => importVersion(type, input, 1, now, input.legacy ?? false));
  }

  async #createWith(input: CreateKeyInput, first: (type: KeyType, now: string) => { record: KeyVersionRecord; publicOnly: boolean }): Promise<ManagedKey> {
    const name = checkKeyName(input.name);
    const type = input.type ?? DEFAULT_KEY_TYPE;
    if (!isKeyType(type)) throw new KeyholdError('KH_KEY_TYPE_INVALID', `unknown key type ${type}`);
    checkRotatePeriod(input.autoRotatePeriodSeconds);
    return this.#withLock(name, async () => {
      if ((await this.store.get(name)) !== undefined) throw new KeyholdError('KH_KEY_EXISTS', `a key named ${name} already exists`);
      const now = this.#now().toISOString();
      const v1 = first(type, now);
      const record: KeyRecord = {
        format: 1,
        name,
        type,
        description: input.description ?? '',
        tags: input.tags ?? {},
        createdAt: now,
        updatedAt: now,
        state: 'enabled',
        exportable: input.exportable ?? false,
        legacy: input.legacy ?? false,
        sealWrap: input.sealWrap ?? false,
        publicOnly: v1.publicOnly,
        latestVersion: 1,
        minDecryptionVersion: 1,
        minEncryptionVersion: 0,
        minAvailableVersion: 1,
        autoRotatePeriodSeconds: input.autoRotatePeriodSeconds ?? 0,
        lastRotatedAt: now,
        versions: [v1.record],
      };
      return this.store.put(record);
    });
  }

  async #mutate(name: string, change: (r: KeyRecord, now: string) => KeyRecord): Promise<ManagedKey> {
    await this.#expire(name);
    return this.#change(name, change);
  }

  /**
   * Like #mutate, but refused while the key is scheduled for deletion (as KMS:
   * a key on its way out is not reconfigured), and, with `enabledOnly`, while disabled.
   */
  #mutateLive(name: string, change: (r: KeyRecord, now: string) => KeyRecord, enabledOnly = false): Promise<ManagedKey> {
    return this.#mutate(name, (r, now) => {
      if (r.state === 'pending-deletion') throw new KeyholdError('KH_KEY_PENDING_DELETION');
      if (enabledOnly && r.state === 'disabled') throw new KeyholdError('KH_KEY_DISABLED');
      return change(r, now);
    });
  }

  /** Applies `change` to the stored record under the key's lock. */
  #change(name: string, change: (r: KeyRecord, now: string) => KeyRecord): Promise<ManagedKey> {
    return this.#withLock(name, async () => {
      const key = await this.store.require(name);
      const now = this.#now().toISOString();
      const draft = structuredClone(key.record);
      const next = change(draft, now);
      // A change that returns the draft untouched writes nothing.
      return next === draft ? key : this.store.put({ ...next, updatedAt: now });
    });
  }

  /** Adds a version from imported material (as Vault's import_version); it becomes the current version. */
  importNewVersion(name: string, material: ImportMaterial): Promise<ManagedKey> {
    return this.#mutateLive(name, (r, now) => {
      const version = r.latestVersion + 1;
      const imported = importVersion(r.type, material, version, now, r.legacy);
      if (imported.publicOnly !== r.publicOnly)
        throw new KeyholdError('KH_KEY_CONFIG_INVALID', r.publicOnly ? 'this key holds public keys only; import a public key' : 'this key holds private material; import private material');
      return { ...r, latestVersion: version, lastRotatedAt: now, versions: [...r.versions, imported.record] };
    }, true);
  }

  /**
   * Key material of an exportable key, all available versions.
   * @throws KeyholdError KH_KEY_NOT_EXPORTABLE for every key created without exportable: true
   */
  async exportKey(name: string): Promise<{ name: string; type: KeyType; versions: { version: number; secret?: string; publicKey?: string }[] }> {
    const key = await this.get(name);
    if (!key.record.exportable) throw new KeyholdError('KH_KEY_NOT_EXPORTABLE');
    key.checkUsable();
    return {
      name: key.name,
      type: key.record.type,
      versions: key.record.versions
        .filter((v) => v.version >= key.record.minAvailableVersion)
        .map((v) => ({ version: v.version, ...(v.secret !== undefined ? { secret: v.secret } : {}), ...(v.publicKey !== undefined ? { publicKey: v.publicKey } : {}) })),
    };
  }

  rotate(name: string): Promise<ManagedKey> {
    return this.#mutateLive(name, (r, now) => {
      if (r.publicOnly) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot be rotated; import a new version instead');
      return addVersion(r, now);
    }, true);
  }

  update(name: string, input: UpdateKeyInput): Promise<ManagedKey> {
    checkRotatePeriod(input.autoRotatePeriodSeconds);
    return this.#mutateLive(name, (r) => {
      const next = { ...r };
      if (input.description !== undefined) next.description = input.description;
      if (input.tags !== undefined) next.tags = input.tags;
      if (input.autoRotatePeriodSeconds !== undefined) next.autoRotatePeriodSeconds = input.autoRotatePeriodSeconds;
      if (input.minDecryptionVersion !== undefined) {
        if (input.minDecryptionVersion < next.minAvailableVersion || input.minDecryptionVersion > next.latestVersion)
          throw new KeyholdError('KH_KEY_CONFIG_INVALID', `minDecryptionVersion must be between ${next.minAvailableVersion} and ${next.latestVersion}`);
        next.minDecryptionVersion = input.minDecryptionVersion;
      }
      if (input.minEncryptionVersion !== undefined) {
        if (input.minEncryptionVersion !== 0 && (input.minEncryptionVersion < next.minDecryptionVersion || input.minEncryptionVersion > next.latestVersion))
          throw new KeyholdError('KH_KEY_CONFIG_INVALID', `minEncryptionVersion must be 0 (latest) or between minDecryptionVersion and ${next.latestVersion}`);
        next.minEncryptionVersion = input.minEncryptionVersion;
      }
      if (next.minEncryptionVersion !== 0 && next.minEncryptionVersion < next.minDecryptionVersion)
        throw new KeyholdError('KH_KEY_CONFIG_INVALID', 'minEncryptionVersion cannot be below minDecryptionVersion');
      return next;
    });
  }

  /**
   * Permanently destroys versions below `minAvailableVersion` (as Vault's
   * trim). Only versions already below minDecryptionVersion may go, so no
   * accepted ciphertext becomes undecryptable by surprise.
   */
  trim(name: string, minAvailableVersion: number): Promise<ManagedKey> {
    return this.#mutateLive(name, (r) => {
      if (minAvailableVersion < r.minAvailableVersion || minAvailableVersion > r.minDecryptionVersion)
        throw new KeyholdError('KH_KEY_CONFIG_INVALID', `minAvailableVersion must be between ${r.minAvailableVersion} and minDecryptionVersion (${r.minDecryptionVersion})`);
      return { ...r, minAvailableVersion, versions: r.versions.filter((v) => v.version >= minAvailableVersion) };
    });
  }

  setEnabled(name: string, enabled: boolean): Promise<ManagedKey> {
    return this.#mutate(name, (r) => {
      if (r.state === 'pending-deletion') throw new KeyholdError('KH_KEY_PENDING_DELETION');
      return { ...r, state: enabled ? 'enabled' : 'disabled' };
    });
  }

  scheduleDeletion(name: string, waitingDays = MAX_DELETION_DAYS): Promise<ManagedKey> {
    if (!Number.isInteger(waitingDays) || waitingDays < MIN_DELETION_DAYS || waitingDays > MAX_DELETION_DAYS)
      throw new KeyholdError('KH_KEY_CONFIG_INVALID', `the waiting period must be ${MIN_DELETION_DAYS} to ${MAX_DELETION_DAYS} days`);
    return this.#mutate(name, (r) => {
      if (r.state === 'pending-deletion') throw new KeyholdError('KH_KEY_PENDING_DELETION', 'the key is already scheduled for deletion');
      return { ...r, state: 'pending-deletion', deletionDate: new Date(this.#now().getTime() + waitingDays * DAY_MS).toISOString() };
    });
  }

  cancelDeletion(name: string): Promise<ManagedKey> {
    return this.#mutate(name, (r) => {
      if (r.state !== 'pending-deletion') throw new KeyholdError('KH_KEY_CONFIG_INVALID', 'the key is not scheduled for deletion');
      const { deletionDate: _gone, ...rest } = r;
      // As KMS: a key whose deletion is cancelled comes back disabled, so its owner re-enables it on purpose.
      return { ...rest, state: 'disabled' };
    });
  }

  /** Keys in name order, paged by `after` (exclusive). Pending deletions past their date are not listed. */
  async list(options: { limit: number; after?: string }): Promise<{ keys: ManagedKey[]; next?: string }> {
    const now = this.#now().getTime();
    const all = (await this.store.all())
      .filter((k) => !(k.record.state === 'pending-deletion' && k.record.deletionDate !== undefined && Date.parse(k.record.deletionDate) <= now))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const start = options.after === undefined ? 0 : all.findIndex((k) => k.name > options.after!);
    const page = start < 0 ? [] : all.slice(start, start + options.limit);
    const last = page[page.length - 1];
    return { keys: page, ...(last !== undefined && start + options.limit < all.length ? { next: last.name } : {}) };
  }
}
