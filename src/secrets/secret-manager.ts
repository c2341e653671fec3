/**
 * Versioned key/value secrets, modelled on Vault's KV v2: each path has
 * metadata (settings, per-version bookkeeping) and up to maxVersions
 * versions; writes may be check-and-set; versions can be soft-deleted,
 * undeleted and destroyed; the oldest versions are pruned beyond maxVersions.
 * A version is a document of string values and/or files, of type kv, tls, or
 * generated here (password, data key, SSH host key) so its plaintext exists
 * only inside Keyhold and the workload that reads it.
 *
 * Mutations of one path are serialised, so concurrent check-and-set writes
 * cannot both succeed. Nothing here knows about HTTP or callers: the API
 * authorises, and gates reads of secrets with a release policy.
 */
import { KeyholdError } from '../errors.js';
import type { Barrier } from '../barrier/barrier.js';
import { fromBase64Strict, toBase64 } from '../crypto/bytes.js';
import { checkReleasePolicy, type ReleasePolicy } from '../keys/release/release-policy.js';
import { checkSecretPath, checkSecretPrefix } from './secret-path.js';
import type { SecretMetadataRecord, SecretType, SecretVersionRecord, VersionInfo } from './secret-record.js';
import { SecretStore, type SecretWrite } from './secret-store.js';
import { checkCustomMetadata, checkDocument, checkSettings, DEFAULT_MAX_VERSIONS } from './secret-limits.js';
import { checkTlsBundle, type TlsInput } from './tls-bundle.js';
import { DEFAULT_PASSWORD_ALPHABET, DEFAULT_PASSWORD_LENGTH, checkPasswordSpec, generatePassword } from './password.js';
import { generateSshHostKey } from './openssh-key.js';

export const DATA_KEY_SECRET_BITS = [128, 256, 512] as const;
export type DataKeySecretBits = (typeof DATA_KEY_SECRET_BITS)[number];

/**
 * The keys layer's data key operation, as the composition root wires it: a
 * fresh data key in plaintext and wrapped under the named key.
 * @throws KeyholdError KH_KEY_* when the key cannot make data keys
 */
export type DataKeySource = (keyName: string, bits: DataKeySecretBits) => Promise<{ plaintext: Uint8Array; ciphertext: string; keyVersion: number }>;

export type GenerateSpec =
  | { kind: 'password'; length?: number | undefined; alphabet?: string | undefined }
  | { kind: 'datakey'; key: string; bits?: DataKeySecretBits | undefined }
  | { kind: 'ssh-host-key'; comment?: string | undefined };

export interface WriteSecretInput {
  /** String values (kv). */
  data?: Readonly<Record<string, string>> | undefined;
  /** File name -> content (kv). */
  files?: Readonly<Record<string, Uint8Array>> | undefined;
  /** TLS material: stored as files tls.crt, tls.key (and ca.crt). */
  tls?: TlsInput | undefined;
  /** Generate the content here instead. */
  generate?: GenerateSpec | undefined;
  /** Check-and-set: the current version must be this (0: the secret must have no version yet). */
  cas?: number | undefined;
}

export interface SecretSettings {
  maxVersions?: number | undefined;
  casRequired?: boolean | undefined;
  deleteVersionAfterSeconds?: number | undefined;
  customMetadata?: Readonly<Record<string, string>> | undefined;
  /** Attestation release policy; null removes it. */
  releasePolicy?: ReleasePolicy | null | undefined;
}

export interface WriteResult {
  readonly path: string;
  readonly version: number;
  readonly type: SecretType;
  readonly createdAt: string;
  readonly deletedAt?: string;
  /** Public facts about generated content, never the secret part (see docs/secrets.md). */
  readonly generated?: Readonly<Record<string, string>>;
}

export interface SecretVersion {
  readonly metadata: SecretMetadataRecord;
  readonly version: number;
  readonly info: VersionInfo;
  readonly data: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, Uint8Array>>;
}

export interface SecretListing {
  /** Names relative to the prefix; folders end with "/". Sorted. */
  readonly keys: string[];
}

export class SecretManager {
  readonly store: SecretStore;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #now: () => Date;
  readonly #dataKeys: DataKeySource | undefined;

  constructor(barrier: Barrier, options: { now?: () => Date; dataKeys?: DataKeySource } = {}) {
    this.store = new SecretStore(barrier);
    this.#now = options.now ?? (() => new Date());
    this.#dataKeys = options.dataKeys;
  }

  async #withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(path) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(path, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(path) === tail) this.#locks.delete(path);
    }
  }

  #fresh(path: string, now: string): SecretMetadataRecord {
    return {
      format: 1,
      path,
      createdAt: now,
      updatedAt: now,
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: DEFAULT_MAX_VERSIONS,
      casRequired: false,
      deleteVersionAfterSeconds: 0,
      customMetadata: {},
      versions: {},
    };
  }

  /** @throws KeyholdError KH_SECRET_NOT_FOUND */
  async #require(path: string): Promise<SecretMetadataRecord> {
    const meta = await this.store.metadata(checkSecretPath(path));
    if (meta === undefined) throw new KeyholdError('KH_SECRET_NOT_FOUND', `no secret at ${path}`);
    return meta;
  }

  /** Drops the oldest versions beyond maxVersions; returns the writes that remove their data. */
  #prune(meta: SecretMetadataRecord): SecretWrite[] {
    const numbers = Object.keys(meta.versions).map(Number).sort((a, b) => a - b);
    const drops: SecretWrite[] = [];
    while (numbers.length > meta.maxVersions) {
      const n = numbers.shift()!;
      delete meta.versions[String(n)];
      drops.push({ type: 'drop-version', path: meta.path, version: n });
    }
    meta.oldestVersion = numbers[0] ?? 0;
    return drops;
  }

  /** The content of a new version, generated or checked. */
  async #content(input: WriteSecretInput): Promise<{ type: SecretType; data: Record<string, string>; files: Record<string, Uint8Array>; generated?: Record<string, string> }> {
    const kinds = [input.data !== undefined || input.files !== undefined, input.tls !== undefined, input.generate !== undefined].filter(Boolean).length;
    if (kinds !== 1) throw new KeyholdError('KH_SECRET_INVALID', 'give exactly one of data/files, tls or generate');
    if (input.tls !== undefined) {
      const tls = checkTlsBundle(input.tls);
      return { type: 'tls', data: { notAfter: tls.notAfter, subject: tls.subject }, files: tls.files };
    }
    const g = input.generate;
    if (g === undefined) return { type: 'kv', data: { ...input.data }, files: { ...input.files } };
    switch (g.kind) {
      case 'password':
        return { type: 'password', data: { password: generatePassword(g.length ?? DEFAULT_PASSWORD_LENGTH, g.alphabet ?? DEFAULT_PASSWORD_ALPHABET) }, files: {} };
      case 'ssh-host-key': {
        const k = generateSshHostKey(g.comment ?? '');
        return {
          type: 'ssh-host-key',
          data: { publicKey: k.publicKeyLine, fingerprint: k.fingerprint },
          files: { ssh_host_ed25519_key: new TextEncoder().encode(k.privateKeyFile), 'ssh_host_ed25519_key.pub': new TextEncoder().encode(`${k.publicKeyLine}\n`) },
          generated: { publicKey: k.publicKeyLine, fingerprint: k.fingerprint },
        };
      }
      case 'datakey': {
        if (this.#dataKeys === undefined) throw new KeyholdError('KH_SECRET_GENERATE_INVALID', 'data key generation is not available');
        const bits = g.bits ?? 256;
        const dk = await this.#dataKeys(g.key, bits);
        try {
          const generated = { key: g.key, keyVersion: String(dk.keyVersion), ciphertext: dk.ciphertext, bits: String(bits) };
          return { type: 'datakey', data: { plaintext: toBase64(dk.plaintext), ...generated }, files: {}, generated };
        } finally {
          dk.plaintext.fill(0);
        }
      }
    }
  }

  /**
   * Writes a new version (creating the secret if needed).
   * @throws KeyholdError KH_SECRET_PATH_INVALID, KH_SECRET_INVALID, KH_SECRET_TOO_LARGE, KH_SECRET_TLS_INVALID,
   *   KH_SECRET_GENERATE_INVALID, KH_SECRET_CAS_REQUIRED, KH_SECRET_CAS_MISMATCH
   */
  async write(path: string, input: WriteSecretInput): Promise<WriteResult> {
    checkSecretPath(path);
    if (input.cas !== undefined && (!Number.isInteger(input.cas) || input.cas < 0)) throw new KeyholdError('KH_SECRET_INVALID', 'cas must be a non-negative integer');
    if (input.generate?.kind === 'password') checkPasswordSpec(input.generate.length ?? DEFAULT_PASSWORD_LENGTH, input.generate.alphabet ?? DEFAULT_PASSWORD_ALPHABET);
    return this.#withLock(path, async () => {
      const nowDate = this.#now();
      const now = nowDate.toISOString();
      const meta = (await this.store.metadata(path)) ?? this.#fresh(path, now);
      if (meta.casRequired && input.cas === undefined) throw new KeyholdError('KH_SECRET_CAS_REQUIRED');
      if (input.cas !== undefined && input.cas !== meta.currentVersion)
        throw new KeyholdError('KH_SECRET_CAS_MISMATCH', `check-and-set expected version ${input.cas}, the current version is ${meta.currentVersion}`);
      // Content after the checks: nothing is generated (no data key drawn) for a write that is refused.
      const content = await this.#content(input);
      checkDocument(content.data, content.files);
      const version = meta.currentVersion + 1;
      const info: VersionInfo = { createdAt: now, type: content.type, destroyed: false };
      if (meta.deleteVersionAfterSeconds > 0) info.deletedAt = new Date(nowDate.getTime() + meta.deleteVersionAfterSeconds * 1000).toISOString();
      meta.versions[String(version)] = info;
      meta.currentVersion = version;
      meta.updatedAt = now;
      const files: Record<string, string> = {};
      for (const [name, bytes] of Object.entries(content.files)) files[name] = toBase64(bytes);
      const record: SecretVersionRecord = { format: 1, version, data: content.data, files };
      const drops = this.#prune(meta);
      await this.store.commit([{ type: 'version', path, record }, ...drops, { type: 'meta', record: meta }]);
      for (const f of Object.values(content.files)) f.fill(0);
      return {
        path,
        version,
        type: content.type,
        createdAt: now,
        ...(info.deletedAt !== undefined && { deletedAt: info.deletedAt }),
        ...(content.generated !== undefined && { generated: content.generated }),
      };
    });
  }

  /**
   * One version (default: the current one) with its data.
   * @throws KeyholdError KH_SECRET_NOT_FOUND, KH_SECRET_VERSION_NOT_FOUND, KH_SECRET_VERSION_DELETED, KH_SECRET_VERSION_DESTROYED
   */
  async read(path: string, version?: number): Promise<SecretVersion> {
    const meta = await this.#require(path);
    const n = version ?? meta.currentVersion;
    const info = meta.versions[String(n)];
    if (n === 0 || info === undefined) throw new KeyholdError('KH_SECRET_VERSION_NOT_FOUND', n === 0 ? `the secret at ${path} has no version yet` : `version ${n} of ${path} does not exist (or was pruned)`);
    if (info.destroyed) throw new KeyholdError('KH_SECRET_VERSION_DESTROYED', `version ${n} of ${path} was destroyed`);
    if (info.deletedAt !== undefined && Date.parse(info.deletedAt) <= this.#now().getTime()) throw new KeyholdError('KH_SECRET_VERSION_DELETED', `version ${n} of ${path} is deleted; undelete it to read it`);
    const record = await this.store.version(path, n);
    if (record === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'a secret version record is missing');
    const files: Record<string, Uint8Array> = {};
    for (const [name, b64] of Object.entries(record.files)) files[name] = fromBase64Strict(b64) ?? new Uint8Array(0);
    return { metadata: meta, version: n, info, data: record.data, files };
  }

  /** @throws KeyholdError KH_SECRET_NOT_FOUND */
  async metadata(path: string): Promise<SecretMetadataRecord> {
    return this.#require(path);
  }

  /**
   * Creates or changes the metadata of a path (a secret may be configured before its first write).
   * @throws KeyholdError KH_SECRET_PATH_INVALID, KH_SECRET_INVALID, KH_RELEASE_POLICY_INVALID
   */
  /**
   * `authorize` sees the stored metadata (undefined for a new path) under the
   * path's lock, just before the change, so a decision that depends on it
   * (lifting a release policy asks changeSecretReleasePolicy) cannot be
   * overtaken by a concurrent change (review of issue 15, finding 7). A change
   * of the release policy must come with one.
   * @throws whatever `authorize` throws; nothing is written then
   */
  async updateMetadata(path: string, s: SecretSettings, authorize?: (current: Readonly<SecretMetadataRecord> | undefined) => void | Promise<void>): Promise<SecretMetadataRecord> {
    checkSecretPath(path);
    checkSettings(s);
    if (s.customMetadata !== undefined) checkCustomMetadata(s.customMetadata);
    if (s.releasePolicy !== undefined && authorize === undefined) throw new TypeError('a release policy change needs an authorisation callback');
    const policy = s.releasePolicy === undefined || s.releasePolicy === null ? s.releasePolicy : checkReleasePolicy(s.releasePolicy);
    return this.#withLock(path, async () => {
      const now = this.#now().toISOString();
      const stored = await this.store.metadata(path);
      await authorize?.(stored);
      const meta = stored ?? this.#fresh(path, now);
      if (s.maxVersions !== undefined) meta.maxVersions = s.maxVersions;
      if (s.casRequired !== undefined) meta.casRequired = s.casRequired;
      if (s.deleteVersionAfterSeconds !== undefined) meta.deleteVersionAfterSeconds = s.deleteVersionAfterSeconds;
      if (s.customMetadata !== undefined) meta.customMetadata = { ...s.customMetadata };
      if (policy === null) delete meta.releasePolicy;
      else if (policy !== undefined) meta.releasePolicy = policy;
      meta.updatedAt = now;
      const drops = this.#prune(meta);
      await this.store.commit([...drops, { type: 'meta', record: meta }]);
      return meta;
    });
  }

  /**
   * Deletes the metadata and every version of a path, for good.
   * @throws KeyholdError KH_SECRET_NOT_FOUND
   */
  async deleteMetadata(path: string): Promise<void> {
    checkSecretPath(path);
    await this.#withLock(path, async () => {
      const meta = await this.#require(path);
      const drops: SecretWrite[] = Object.keys(meta.versions).map((v) => ({ type: 'drop-version', path, version: Number(v) }));
      await this.store.commit([...drops, { type: 'drop-meta', path }]);
    });
  }

  async #changeVersions(path: string, versions: readonly number[] | undefined, change: (info: VersionInfo, n: number, now: string) => SecretWrite[]): Promise<SecretMetadataRecord> {
    checkSecretPath(path);
    if (versions !== undefined && !versions.every((v) => Number.isInteger(v) && v >= 1)) throw new KeyholdError('KH_SECRET_INVALID', 'versions are positive integers');
    return this.#withLock(path, async () => {
      const meta = await this.#require(path);
      const now = this.#now().toISOString();
      const wanted = versions ?? (meta.currentVersion > 0 ? [meta.currentVersion] : []);
      const writes: SecretWrite[] = [];
      // As Vault: versions that do not exist (or were pruned) are skipped.
      for (const n of new Set(wanted)) {
        const info = meta.versions[String(n)];
        if (info !== undefined) writes.push(...change(info, n, now));
      }
      meta.updatedAt = now;
      await this.store.commit([...writes, { type: 'meta', record: meta }]);
      return meta;
    });
  }

  /**
   * Soft delete: the versions (default: the current one) are kept but not served.
   * @throws KeyholdError KH_SECRET_NOT_FOUND
   */
  delete(path: string, versions?: readonly number[]): Promise<SecretMetadataRecord> {
    return this.#changeVersions(path, versions, (info, _n, now) => {
      if (!info.destroyed && (info.deletedAt === undefined || info.deletedAt > now)) info.deletedAt = now;
      return [];
    });
  }

  /** Reverses soft deletion (and a scheduled automatic one) of these versions. @throws KeyholdError KH_SECRET_NOT_FOUND */
  undelete(path: string, versions: readonly number[]): Promise<SecretMetadataRecord> {
    return this.#changeVersions(path, versions, (info) => {
      if (!info.destroyed) delete info.deletedAt;
      return [];
    });
  }

  /** Removes the data of these versions for good; their bookkeeping stays, marked destroyed. @throws KeyholdError KH_SECRET_NOT_FOUND */
  destroy(path: string, versions: readonly number[]): Promise<SecretMetadataRecord> {
    return this.#changeVersions(path, versions, (info, n) => {
      info.destroyed = true;
      delete info.deletedAt;
      return [{ type: 'drop-version', path, version: n }];
    });
  }

  /**
   * Names under a folder prefix ("" for the top), one level deep as Vault lists them.
   * @throws KeyholdError KH_SECRET_PATH_INVALID
   */
  async list(prefix: string): Promise<SecretListing> {
    checkSecretPrefix(prefix);
    const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const keys = new Set<string>();
    for (const meta of await this.store.allMetadata()) {
      if (!meta.path.startsWith(folder)) continue;
      const rest = meta.path.slice(folder.length);
      const slash = rest.indexOf('/');
      keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    return { keys: [...keys].sort() };
  }
}
