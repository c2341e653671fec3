/**
 * The seal: holds the unseal state machine of a Shamir-sealed vault.
 *
 *   unseal key (32 B, split into N shares, threshold T; never stored)
 *     └── root key (32 B) stored at core/root-key as AES-256-GCM(unseal key),
 *           AAD = "keyhold-root-key-v1" 0x00 seal-config bytes
 *           └── keyring (barrier/keyring.ts) stored under the root key
 *
 * Contract:
 * - initialize() writes config, wrapped root key, keyring and any seed
 *   records in one transaction, returns the shares once, and leaves the vault
 *   sealed. Shares are not kept.
 * - unseal() collects distinct shares; at the threshold it reconstructs the
 *   unseal key, authenticates the root key with it and loads the keyring, or
 *   resets progress and throws KH_UNSEAL_FAILED (one message for every cause).
 * - seal() wipes keyring, root key and pending shares from memory.
 * - rekey issues new shares for the same root key given T old shares; the old
 *   shares stop working in the same transaction.
 * State changes are serialised: no two run at once.
 *
 * With an automatic seal (seal.type pkcs11, root-key-wrapper.ts) the root key
 * is stored only wrapped by the HSM key, and the Shamir shares are recovery
 * shares: a recovery key that decrypts nothing, proven by core/recovery-check,
 * that authorises rekeying the recovery shares, unsealing after a manual seal
 * and seal migration. Migration swaps the roles in one transaction:
 * Shamir -> pkcs11 turns the unseal key into the recovery key (same shares);
 * pkcs11 -> Shamir turns the recovery key into the unseal key.
 *
 * The enclave seal (enclave-seal.ts) is an automatic seal too, with one
 * difference: the key that wraps the root key is derived from the running
 * build's measurements, which change with every upgrade. So the recovery key
 * also wraps the root key (core/recovery-root-key), and a recovery quorum can
 * re-bind it to a new build (unseal with migrate while the measurements
 * differ) or migrate it to Shamir, without the old build running. Nothing
 * automatic ever uses that copy: a changed build stays sealed
 * (KH_SEAL_MEASUREMENT_MISMATCH) until the quorum acts.
 */
import { randomUUID } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../crypto/aes-gcm.js';
import { concatBytes, constantTimeEqual, utf8, wipe } from '../crypto/bytes.js';
import { entropy } from '../crypto/random.js';
import { combineShares, splitSecret, validateShamirParams } from '../crypto/shamir.js';
import type { PhysicalBackend, StorageOp } from '../storage/backend.js';
import type { Barrier } from '../barrier/barrier.js';
import type { TermInfo } from '../barrier/keyring.js';
import { decodeSealConfig, encodeSealConfig, RECOVERY_CHECK_PATH, RECOVERY_ROOT_KEY_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, type SealConfig } from './seal-config.js';
import type { RootKeyWrapper } from './root-key-wrapper.js';
import { measurementMismatch } from './enclave-seal.js';
import { decodeShare, encodeShare, shareId, UNSEAL_KEY_BYTES } from './unseal-share.js';

const ROOT_KEY_AAD_LABEL = utf8('keyhold-root-key-v1\0');
const RECOVERY_CHECK_LABEL = utf8('keyhold-recovery-check-v1');
const RECOVERY_ROOT_KEY_AAD_LABEL = utf8('keyhold-recovery-root-key-v1\0');

export type SealType = SealConfig['type'];

export interface SealStatus {
  /** The stored seal (the configured one before initialisation). */
  type: SealType;
  /** True when shares are recovery shares (an automatic seal). */
  recoverySeal: boolean;
  /** True when this node is configured for another seal than the stored one: unseal with migrate. */
  migration: boolean;
  initialized: boolean;
  sealed: boolean;
  /** Shares needed (0 before init). */
  threshold: number;
  /** Shares issued (0 before init). */
  shares: number;
  /** Distinct shares received towards the current unseal. */
  progress: number;
  version: string;
  storage: string;
  /** While sealed with an automatic seal: why automatic unseal has not unsealed yet (auto-unseal.ts). */
  autoUnseal?: AutoUnsealReport;
}

/** The last failed automatic unseal: `retrying` with backoff, or `stopped` for a cause no retry can cure (a refused HSM PIN). Secret-free. */
export interface AutoUnsealReport {
  state: 'retrying' | 'stopped';
  code: string;
  message: string;
}

export interface RekeyStatus {
  started: boolean;
  nonce?: string;
  /** Old shares received so far. */
  progress: number;
  /** Old shares required (current threshold). */
  required: number;
  /** The new configuration being issued. */
  newShares?: number;
  newThreshold?: number;
}

export interface RootGenerationStatus {
  started: boolean;
  nonce?: string;
  progress: number;
  required: number;
}

export type RekeyResult = ({ complete: false } & RekeyStatus) | { complete: true; shares: string[]; threshold: number };

/** Produces extra physical records to commit atomically with initialization (e.g. the root token). */
export type InitSeed = (barrier: Barrier) => StorageOp[] | Promise<StorageOp[]>;

interface PendingShares {
  readonly shares: Uint8Array[];
  readonly ids: Set<number>;
}

function rootKeyAad(configBytes: Uint8Array): Uint8Array {
  return concatBytes(ROOT_KEY_AAD_LABEL, configBytes);
}

function recoveryRootKeyAad(configBytes: Uint8Array): Uint8Array {
  return concatBytes(RECOVERY_ROOT_KEY_AAD_LABEL, configBytes);
}

/** What the seal config records about an automatic seal (its `description`). */
function sealRecord(auto: RootKeyWrapper | undefined): Pick<SealConfig, 'hsm' | 'enclave'> {
  if (auto === undefined) return {};
  return auto.type === 'pkcs11' ? { hsm: { ...auto.description } } : { enclave: { ...auto.description } };
}

export class SealManager {
  readonly #backend: PhysicalBackend;
  readonly #barrier: Barrier;
  readonly #version: string;
  #config: { parsed: SealConfig; bytes: Uint8Array } | undefined;
  #unseal: PendingShares = { shares: [], ids: new Set() };
  #rekey: (PendingShares & { nonce: string; newShares: number; newThreshold: number }) | undefined;
  #rootGeneration: (PendingShares & { nonce: string }) | undefined;
  #autoUnseal: AutoUnsealReport | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /** The configured automatic seal (enabled), if any. */
  readonly #auto: RootKeyWrapper | undefined;
  /** A configured but disabled automatic seal: the one being migrated away from. */
  readonly #previous: RootKeyWrapper | undefined;

  constructor(options: { backend: PhysicalBackend; barrier: Barrier; version: string; autoSeal?: RootKeyWrapper; previousSeal?: RootKeyWrapper }) {
    this.#backend = options.backend;
    this.#barrier = options.barrier;
    this.#version = options.version;
    this.#auto = options.autoSeal;
    this.#previous = options.previousSeal;
    // These are read before the keyring is: the barrier keeps their hash in the keyring's state (issue 15, review 9).
    this.#barrier.protectSealedReadable([SEAL_CONFIG_PATH, ROOT_KEY_PATH, RECOVERY_CHECK_PATH, RECOVERY_ROOT_KEY_PATH]);
  }

  /** The seal type this node is configured for. */
  get configuredType(): SealType {
    return this.#auto?.type ?? 'shamir';
  }

  /**
   * With the enclave seal stored and configured: why this build may not
   * unwrap the root key (its measurements differ from the recorded ones), or
   * undefined. A mismatch is a pending re-bind: a seal migration to the same
   * type with this build's measurements.
   */
  #measurementMismatch(config: SealConfig): string | undefined {
    const auto = this.#auto;
    if (auto?.type !== 'enclave' || config.type !== 'enclave' || config.enclave === undefined) return undefined;
    return measurementMismatch(config.enclave, auto.description);
  }

  /** Runs state changes one at a time, so two unseal calls cannot race on progress. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #loadConfig(): Promise<{ parsed: SealConfig; bytes: Uint8Array } | undefined> {
    if (this.#config !== undefined) return this.#config;
    const bytes = await this.#backend.get(SEAL_CONFIG_PATH);
    if (bytes === undefined) return undefined;
    this.#config = { parsed: decodeSealConfig(bytes), bytes: bytes.slice() };
    return this.#config;
  }

  async #requireConfig(): Promise<{ parsed: SealConfig; bytes: Uint8Array }> {
    const config = await this.#loadConfig();
    if (config === undefined) throw new KeyholdError('KH_NOT_INITIALIZED');
    return config;
  }

  get sealed(): boolean {
    return this.#barrier.sealed;
  }

  async status(): Promise<SealStatus> {
    const config = await this.#loadConfig();
    const type = config?.parsed.type ?? this.configuredType;
    return {
      type,
      recoverySeal: type !== 'shamir',
      migration: config !== undefined && (type !== this.configuredType || this.#measurementMismatch(config.parsed) !== undefined),
      initialized: config !== undefined,
      sealed: this.#barrier.sealed,
      threshold: config?.parsed.threshold ?? 0,
      shares: config?.parsed.shares ?? 0,
      progress: this.#unseal.shares.length,
      version: this.#version,
      storage: this.#backend.name,
      ...(this.#barrier.sealed && this.#autoUnseal !== undefined && { autoUnseal: { ...this.#autoUnseal } }),
    };
  }

  /** The automatic unsealer's last outcome (undefined: it succeeded or has not failed), shown by status() while sealed. */
  reportAutoUnseal(report: AutoUnsealReport | undefined): void {
    this.#autoUnseal = report;
  }

  /**
   * Creates the root key and keyring and splits a new unseal key.
   * @returns the unseal shares (base64), shown exactly once.
   * @throws KeyholdError KH_ALREADY_INITIALIZED, KH_SEAL_PARAMS_INVALID
   */
  initialize(params: { shares: number; threshold: number }, seed?: InitSeed): Promise<{ shares: string[]; recovery: boolean }> {
    return this.#serial(async () => {
      validateShamirParams(params.shares, params.threshold);
      if ((await this.#loadConfig()) !== undefined) throw new KeyholdError('KH_ALREADY_INITIALIZED');
      const auto = this.#auto;
      const config: SealConfig = {
        version: 1,
        type: this.configuredType,
        shares: params.shares,
        threshold: params.threshold,
        initializedAt: new Date().toISOString(),
        ...sealRecord(auto),
      };
      const configBytes = encodeSealConfig(config);
      const rootKey = entropy(32, 'root-key');
      // The Shamir-split secret: the unseal key, or with an automatic seal the recovery key.
      const splitKey = entropy(UNSEAL_KEY_BYTES, auto === undefined ? 'unseal-key' : 'recovery-key');
      let unsealed = false;
      try {
        const sealOps: StorageOp[] = [{ type: 'put', key: SEAL_CONFIG_PATH, value: configBytes }, ...(await this.#wrapOps(config, configBytes, rootKey, splitKey))];
        const ops: StorageOp[] = [...sealOps, this.#barrier.createKeyring(rootKey, sealOps)];
        // Seed records go in with a keyring record whose storage state names them (barrier rollback detection).
        if (seed) ops.splice(ops.length - 1, 1, ...this.#barrier.withSeedRecords(await seed(this.#barrier)));
        const shares = await splitSecret(splitKey, params.shares, params.threshold);
        await this.#backend.transaction(ops);
        this.#config = { parsed: config, bytes: configBytes };
        const encoded = shares.map(encodeShare);
        wipe(...shares);
        // An automatic seal comes up unsealed, as Vault's does; with Shamir the shares are the only way in.
        if (auto !== undefined) {
          await this.#barrier.unseal(rootKey);
          unsealed = true;
          // The keyring was created plain (in the same transaction); store it seal-wrapped now.
          await this.#barrier.rewrapAll();
        }
        return { shares: encoded, recovery: auto !== undefined };
      } finally {
        if (!unsealed) this.#barrier.seal();
        wipe(rootKey, splitKey);
      }
    });
  }

  /**
   * The records that protect `rootKey` under `config`: wrapped by the unseal
   * key (Shamir), or by the automatic seal plus the recovery check (and with
   * the enclave seal the root key under the recovery key as well).
   */
  async #wrapOps(config: SealConfig, configBytes: Uint8Array, rootKey: Uint8Array, splitKey: Uint8Array): Promise<StorageOp[]> {
    const aad = rootKeyAad(configBytes);
    if (config.type === 'shamir')
      return [
        { type: 'put', key: ROOT_KEY_PATH, value: aesGcmEncrypt(splitKey, rootKey, aad) },
        { type: 'delete', key: RECOVERY_CHECK_PATH },
        { type: 'delete', key: RECOVERY_ROOT_KEY_PATH },
      ];
    const auto = this.#auto;
    if (auto?.type !== config.type) throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', `the ${config.type} seal is not configured`);
    return [
      { type: 'put', key: ROOT_KEY_PATH, value: await auto.wrap(rootKey, aad) },
      { type: 'put', key: RECOVERY_CHECK_PATH, value: aesGcmEncrypt(splitKey, RECOVERY_CHECK_LABEL, aad) },
      config.type === 'enclave'
        ? { type: 'put', key: RECOVERY_ROOT_KEY_PATH, value: aesGcmEncrypt(splitKey, rootKey, recoveryRootKeyAad(configBytes)) }
        : { type: 'delete', key: RECOVERY_ROOT_KEY_PATH },
    ];
  }

  /**
   * Unseals with the automatic seal: the HSM or the enclave unwraps the root
   * key. Returns false when there is nothing to do (not initialised,
   * unsealed, Shamir, or a migration waits for an operator).
   * @throws KeyholdError KH_HSM_* when the HSM cannot unwrap, KH_SEAL_MEASUREMENT_MISMATCH when this build is not the one the enclave seal bound the root key to (the vault stays sealed).
   */
  autoUnseal(): Promise<boolean> {
    return this.#serial(async () => {
      const config = await this.#loadConfig();
      if (config === undefined || !this.#barrier.sealed || this.#auto === undefined || config.parsed.type !== this.#auto.type) return false;
      await this.#unsealWith(await this.#unwrapWithAuto(config));
      return true;
    });
  }

  /** The root key from the configured automatic seal, after checking the enclave measurements. */
  async #unwrapWithAuto(config: { parsed: SealConfig; bytes: Uint8Array }): Promise<Uint8Array> {
    const auto = this.#auto;
    if (auto?.type !== config.parsed.type) throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', `the ${config.parsed.type} seal is not configured (finish the seal migration first)`);
    const mismatch = this.#measurementMismatch(config.parsed);
    if (mismatch !== undefined) throw new KeyholdError('KH_SEAL_MEASUREMENT_MISMATCH', mismatch);
    return this.#unwrapRootKey(auto, config);
  }

  /**
   * With the enclave seal: the root key from its recovery copy, for a
   * re-bind or a migration away, which a proven recovery quorum authorises.
   */
  async #recoveryRootKey(splitKey: Uint8Array, config: { bytes: Uint8Array }): Promise<Uint8Array> {
    const blob = await this.#backend.get(RECOVERY_ROOT_KEY_PATH);
    const rootKey = blob === undefined ? undefined : aesGcmDecrypt(splitKey, blob, recoveryRootKeyAad(config.bytes));
    // The recovery check already proved the key: a failure here is a damaged or missing record.
    if (rootKey === undefined) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the recovery copy of the root key (core/recovery-root-key) is missing or does not authenticate');
    return rootKey;
  }

  async #unwrapRootKey(wrapper: RootKeyWrapper, config: { bytes: Uint8Array }): Promise<Uint8Array> {
    const blob = await this.#backend.get(ROOT_KEY_PATH);
    if (blob === undefined) throw new KeyholdError('KH_UNSEAL_FAILED');
    return wrapper.unwrap(blob, rootKeyAad(config.bytes));
  }

  async #unsealWith(rootKey: Uint8Array): Promise<void> {
    try {
      await this.#barrier.unseal(rootKey);
    } finally {
      wipe(rootKey);
    }
  }

  /** Adds `share` to `pending`; returns true when the threshold is reached. */
  #addShare(pending: PendingShares, share: string, config: SealConfig): boolean {
    const bytes = decodeShare(share, config.shares);
    const id = shareId(bytes, config.shares);
    if (pending.ids.has(id) || pending.shares.some((s) => constantTimeEqual(s, bytes))) {
      wipe(bytes);
      throw new KeyholdError('KH_UNSEAL_SHARE_DUPLICATE');
    }
    pending.shares.push(bytes);
    pending.ids.add(id);
    return pending.shares.length >= config.threshold;
  }

  /** Combines complete pending shares into the split key, wiping the shares. */
  async #combine(pending: PendingShares): Promise<Uint8Array> {
    try {
      return await combineShares(pending.shares);
    } catch (e) {
      throw new KeyholdError('KH_UNSEAL_FAILED', undefined, { cause: e });
    } finally {
      wipe(...pending.shares);
      pending.shares.length = 0;
      pending.ids.clear();
    }
  }

  /**
   * Reconstructs the split key from complete pending shares and proves it:
   * with Shamir it must decrypt the root key (returned), with an automatic
   * seal it must open the recovery check (no root key: the HSM holds it).
   */
  async #recoverFromShares(pending: PendingShares, config: { parsed: SealConfig; bytes: Uint8Array }): Promise<{ splitKey: Uint8Array; rootKey?: Uint8Array }> {
    const splitKey = await this.#combine(pending);
    const aad = rootKeyAad(config.bytes);
    if (config.parsed.type === 'shamir') {
      const wrapped = await this.#backend.get(ROOT_KEY_PATH);
      const rootKey = wrapped === undefined ? undefined : aesGcmDecrypt(splitKey, wrapped, aad);
      if (rootKey === undefined) {
        wipe(splitKey);
        throw new KeyholdError('KH_UNSEAL_FAILED');
      }
      return { splitKey, rootKey };
    }
    const check = await this.#backend.get(RECOVERY_CHECK_PATH);
    const opened = check === undefined ? undefined : aesGcmDecrypt(splitKey, check, aad);
    if (opened === undefined || !constantTimeEqual(opened, RECOVERY_CHECK_LABEL)) {
      wipe(splitKey);
      throw new KeyholdError('KH_UNSEAL_FAILED');
    }
    return { splitKey };
  }

  /**
   * Submits one unseal share (with an automatic seal: one recovery share, to
   * unseal after a manual seal). When this node is configured for another
   * seal than the stored one, `migrate` must be set, and reaching the
   * threshold migrates the seal in one transaction, then unseals.
   * With the enclave seal and a build whose measurements differ from the
   * recorded ones, `migrate` re-binds the root key to this build.
   * @throws KeyholdError KH_UNSEAL_SHARE_MALFORMED, KH_UNSEAL_SHARE_DUPLICATE, KH_UNSEAL_FAILED, KH_ALREADY_UNSEALED, KH_SEAL_MIGRATION_FAILED, KH_SEAL_MEASUREMENT_MISMATCH, KH_HSM_*
   */
  unseal(share: string, options: { migrate?: boolean } = {}): Promise<SealStatus> {
    return this.#serial(async () => {
      const config = await this.#requireConfig();
      if (!this.#barrier.sealed) throw new KeyholdError('KH_ALREADY_UNSEALED');
      const mismatch = this.#measurementMismatch(config.parsed);
      if (mismatch !== undefined && options.migrate !== true) throw new KeyholdError('KH_SEAL_MEASUREMENT_MISMATCH', mismatch);
      const migrating = config.parsed.type !== this.configuredType || mismatch !== undefined;
      if (migrating && options.migrate !== true)
        throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', `the stored seal is ${config.parsed.type} but this node is configured for ${this.configuredType}: unseal with migrate: true to migrate`);
      if (!migrating && options.migrate === true) throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', 'there is no seal migration to do: the stored seal matches the configuration');
      if (!this.#addShare(this.#unseal, share, config.parsed)) return this.status();
      const { splitKey, rootKey: shamirRoot } = await this.#recoverFromShares(this.#unseal, config);
      try {
        let rootKey = shamirRoot;
        if (rootKey === undefined) {
          // Recovery shares proved. The seal being left (configured with disabled: true), or the active
          // one (also when re-binding), unwraps the root key; leaving or re-binding the enclave seal
          // takes the recovery copy instead, since this build's measurements may not be the bound ones.
          const wrapper = migrating && mismatch === undefined ? this.#previous : this.#auto;
          if (wrapper?.type !== config.parsed.type)
            throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', `migrating away from the ${config.parsed.type} seal needs it configured with disabled: true`);
          rootKey = migrating && config.parsed.type === 'enclave' ? await this.#recoveryRootKey(splitKey, config) : await this.#unwrapRootKey(wrapper, config);
        }
        if (migrating) {
          // Unsealed first, under the records as they are (checked against the keyring), so the
          // migration's new records are written with a keyring state that names them.
          try {
            await this.#barrier.unseal(rootKey);
            await this.#migrate(config.parsed, rootKey, splitKey);
          } catch (e) {
            this.#barrier.seal();
            throw e;
          } finally {
            wipe(rootKey);
          }
        } else await this.#unsealWith(rootKey);
        // Seal wrapping follows the seal: wrap every critical record for the HSM, or unwrap them leaving it.
        if (migrating) await this.#barrier.rewrapAll();
      } finally {
        wipe(splitKey, shamirRoot);
      }
      return this.status();
    });
  }

  /**
   * Rewrites the seal records for the configured seal type in one
   * transaction: the root key (same key, so no data is re-encrypted) wrapped
   * the new way, and the split key changes role (unseal key <-> recovery key),
   * so the existing shares keep working. A failure leaves the old seal intact.
   */
  async #migrate(old: SealConfig, rootKey: Uint8Array, splitKey: Uint8Array): Promise<void> {
    const { hsm: _oldHsm, enclave: _oldEnclave, ...rest } = old;
    const config: SealConfig = {
      ...rest,
      type: this.configuredType,
      migratedAt: new Date().toISOString(),
      ...sealRecord(this.#auto),
    };
    const configBytes = encodeSealConfig(config);
    try {
      const ops = await this.#wrapOps(config, configBytes, rootKey, splitKey);
      await this.#barrier.commitSealedReadable([{ type: 'put', key: SEAL_CONFIG_PATH, value: configBytes }, ...ops]);
    } catch (e) {
      if (e instanceof KeyholdError && e.code !== 'KH_INTERNAL') throw e;
      throw new KeyholdError('KH_SEAL_MIGRATION_FAILED', undefined, { cause: e });
    }
    this.#config = { parsed: config, bytes: configBytes };
  }

  /** Discards shares submitted so far. */
  resetUnseal(): Promise<SealStatus> {
    return this.#serial(async () => {
      wipe(...this.#unseal.shares);
      this.#unseal = { shares: [], ids: new Set() };
      return this.status();
    });
  }

  /** Wipes every key from memory. Idempotent. */
  seal(): Promise<void> {
    return this.#serial(async () => {
      this.#barrier.seal();
      wipe(...this.#unseal.shares);
      this.#unseal = { shares: [], ids: new Set() };
      this.#cancelRekey();
      this.#cancelRootGeneration();
    });
  }

  /** Adds a keyring term (operator rotate). */
  rotate(): Promise<TermInfo> {
    return this.#serial(() => this.#barrier.rotate());
  }

  rekeyStatus(): RekeyStatus {
    const r = this.#rekey;
    const required = this.#config?.parsed.threshold ?? 0;
    if (r === undefined) return { started: false, progress: 0, required };
    return { started: true, nonce: r.nonce, progress: r.shares.length, required, newShares: r.newShares, newThreshold: r.newThreshold };
  }

  /** Starts issuing new shares with a new share count/threshold. @throws KeyholdError KH_REKEY_IN_PROGRESS */
  rekeyInit(params: { shares: number; threshold: number }): Promise<RekeyStatus> {
    return this.#serial(async () => {
      await this.#requireConfig();
      validateShamirParams(params.shares, params.threshold);
      if (this.#rekey !== undefined) throw new KeyholdError('KH_REKEY_IN_PROGRESS');
      this.#rekey = { shares: [], ids: new Set(), nonce: randomUUID(), newShares: params.shares, newThreshold: params.threshold };
      return this.rekeyStatus();
    });
  }

  #cancelRekey(): void {
    if (this.#rekey) wipe(...this.#rekey.shares);
    this.#rekey = undefined;
  }

  rekeyCancel(): Promise<RekeyStatus> {
    return this.#serial(async () => {
      this.#cancelRekey();
      return this.rekeyStatus();
    });
  }

  /**
   * Submits one old share for the rekey in progress. At the threshold the root
   * key is re-wrapped under a fresh unseal key and the new shares are returned
   * (once); the old shares no longer unseal.
   * @throws KeyholdError KH_REKEY_NOT_STARTED, KH_REKEY_NONCE_MISMATCH, KH_SEALED, KH_STORAGE_ROLLBACK (the seal records are not the ones the keyring names), the unseal codes (KH_UNSEAL_FAILED ...)
   */
  rekeyUpdate(share: string, nonce: string): Promise<RekeyResult> {
    return this.#serial(async () => {
      const config = await this.#requireConfig();
      const rekey = this.#rekey;
      if (rekey === undefined) throw new KeyholdError('KH_REKEY_NOT_STARTED');
      if (!constantTimeEqual(utf8(nonce), utf8(rekey.nonce))) throw new KeyholdError('KH_REKEY_NONCE_MISMATCH');
      // Old seal records put back would make old shares count: check them first (and the new ones commit with the keyring).
      await this.#barrier.checkSealedReadable();
      if (!this.#addShare(rekey, share, config.parsed)) return { complete: false, ...this.rekeyStatus() };
      this.#rekey = undefined;
      const { splitKey, rootKey } = await this.#recoverFromShares(rekey, config);
      const newSplitKey = entropy(UNSEAL_KEY_BYTES, config.parsed.type === 'shamir' ? 'unseal-key' : 'recovery-key');
      try {
        const newConfig: SealConfig = { ...config.parsed, shares: rekey.newShares, threshold: rekey.newThreshold };
        const newConfigBytes = encodeSealConfig(newConfig);
        const shares = await splitSecret(newSplitKey, rekey.newShares, rekey.newThreshold);
        const aad = rootKeyAad(newConfigBytes);
        // Shamir: re-wrap the root key under the new unseal key. Automatic seal: the
        // root key's AAD binds the config, so the seal re-wraps it; the recovery records are renewed.
        let protect: StorageOp[];
        if (rootKey !== undefined) protect = [{ type: 'put', key: ROOT_KEY_PATH, value: aesGcmEncrypt(newSplitKey, rootKey, aad) }];
        else {
          const current = await this.#unwrapWithAuto(config);
          try {
            protect = await this.#wrapOps(newConfig, newConfigBytes, current, newSplitKey);
          } finally {
            wipe(current);
          }
        }
        await this.#barrier.commitSealedReadable([{ type: 'put', key: SEAL_CONFIG_PATH, value: newConfigBytes }, ...protect]);
        this.#config = { parsed: newConfig, bytes: newConfigBytes };
        const encoded = shares.map(encodeShare);
        wipe(...shares);
        return { complete: true, shares: encoded, threshold: rekey.newThreshold };
      } finally {
        wipe(rootKey, splitKey, newSplitKey);
      }
    });
  }

  rootGenerationStatus(): RootGenerationStatus {
    const g = this.#rootGeneration;
    const required = this.#config?.parsed.threshold ?? 0;
    return g === undefined ? { started: false, progress: 0, required } : { started: true, nonce: g.nonce, progress: g.shares.length, required };
  }

  /**
   * Starts a root token generation: a quorum of unseal shares (recovery
   * shares with an HSM seal) authorises a new root token, as Vault's
   * generate-root does. The vault must be unsealed (the token is stored
   * through the barrier). @throws KeyholdError KH_ROOT_GENERATION_IN_PROGRESS, KH_SEALED
   */
  rootGenerationInit(): Promise<RootGenerationStatus> {
    return this.#serial(async () => {
      await this.#requireConfig();
      if (this.#barrier.sealed) throw new KeyholdError('KH_SEALED');
      if (this.#rootGeneration !== undefined) throw new KeyholdError('KH_ROOT_GENERATION_IN_PROGRESS');
      this.#rootGeneration = { shares: [], ids: new Set(), nonce: randomUUID() };
      return this.rootGenerationStatus();
    });
  }

  #cancelRootGeneration(): void {
    if (this.#rootGeneration) wipe(...this.#rootGeneration.shares);
    this.#rootGeneration = undefined;
  }

  rootGenerationCancel(): Promise<RootGenerationStatus> {
    return this.#serial(async () => {
      this.#cancelRootGeneration();
      return this.rootGenerationStatus();
    });
  }

  /**
   * Submits one share for the root token generation in progress. At the
   * threshold the shares are proven (they must open the root key, or the
   * recovery check) and `mint` runs to create the token, which is returned once.
   * @throws KeyholdError KH_ROOT_GENERATION_NOT_STARTED, KH_ROOT_GENERATION_NONCE_MISMATCH, KH_SEALED, KH_STORAGE_ROLLBACK (the seal records are not the ones the keyring names), the unseal codes
   */
  rootGenerationUpdate(share: string, nonce: string, mint: () => Promise<string>): Promise<({ complete: false } & RootGenerationStatus) | { complete: true; rootToken: string }> {
    return this.#serial(async () => {
      const config = await this.#requireConfig();
      const generation = this.#rootGeneration;
      if (generation === undefined) throw new KeyholdError('KH_ROOT_GENERATION_NOT_STARTED');
      if (!constantTimeEqual(utf8(nonce), utf8(generation.nonce))) throw new KeyholdError('KH_ROOT_GENERATION_NONCE_MISMATCH');
      // A pre-rekey recovery check put back would make a quorum of old (possibly leaked) shares mint a root token.
      await this.#barrier.checkSealedReadable();
      if (!this.#addShare(generation, share, config.parsed)) return { complete: false, ...this.rootGenerationStatus() };
      this.#rootGeneration = undefined;
      const { splitKey, rootKey } = await this.#recoverFromShares(generation, config);
      wipe(splitKey, rootKey);
      return { complete: true, rootToken: await mint() };
    });
  }
}
