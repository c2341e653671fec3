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
import { decodeSealConfig, encodeSealConfig, ROOT_KEY_PATH, SEAL_CONFIG_PATH, type SealConfig } from './seal-config.js';
import { decodeShare, encodeShare, shareId, UNSEAL_KEY_BYTES } from './unseal-share.js';

const ROOT_KEY_AAD_LABEL = utf8('keyhold-root-key-v1\0');

export interface SealStatus {
  type: 'shamir';
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

export class SealManager {
  readonly #backend: PhysicalBackend;
  readonly #barrier: Barrier;
  readonly #version: string;
  #config: { parsed: SealConfig; bytes: Uint8Array } | undefined;
  #unseal: PendingShares = { shares: [], ids: new Set() };
  #rekey: (PendingShares & { nonce: string; newShares: number; newThreshold: number }) | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { backend: PhysicalBackend; barrier: Barrier; version: string }) {
    this.#backend = options.backend;
    this.#barrier = options.barrier;
    this.#version = options.version;
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
    return {
      type: 'shamir',
      initialized: config !== undefined,
      sealed: this.#barrier.sealed,
      threshold: config?.parsed.threshold ?? 0,
      shares: config?.parsed.shares ?? 0,
      progress: this.#unseal.shares.length,
      version: this.#version,
      storage: this.#backend.name,
    };
  }

  /**
   * Creates the root key and keyring and splits a new unseal key.
   * @returns the unseal shares (base64), shown exactly once.
   * @throws KeyholdError KH_ALREADY_INITIALIZED, KH_SEAL_PARAMS_INVALID
   */
  initialize(params: { shares: number; threshold: number }, seed?: InitSeed): Promise<{ shares: string[] }> {
    return this.#serial(async () => {
      validateShamirParams(params.shares, params.threshold);
      if ((await this.#loadConfig()) !== undefined) throw new KeyholdError('KH_ALREADY_INITIALIZED');
      const config: SealConfig = {
        version: 1,
        type: 'shamir',
        shares: params.shares,
        threshold: params.threshold,
        initializedAt: new Date().toISOString(),
      };
      const configBytes = encodeSealConfig(config);
      const rootKey = entropy(32, 'root-key');
      const unsealKey = entropy(UNSEAL_KEY_BYTES, 'unseal-key');
      try {
        const ops: StorageOp[] = [
          { type: 'put', key: SEAL_CONFIG_PATH, value: configBytes },
          { type: 'put', key: ROOT_KEY_PATH, value: aesGcmEncrypt(unsealKey, rootKey, rootKeyAad(configBytes)) },
          this.#barrier.createKeyring(rootKey),
          ...(seed ? await seed(this.#barrier) : []),
        ];
        const shares = await splitSecret(unsealKey, params.shares, params.threshold);
        await this.#backend.transaction(ops);
        this.#config = { parsed: config, bytes: configBytes };
        const encoded = shares.map(encodeShare);
        wipe(...shares);
        return { shares: encoded };
      } finally {
        // Initialization leaves the vault sealed, as Vault does: the shares are the only way in.
        this.#barrier.seal();
        wipe(rootKey, unsealKey);
      }
    });
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

  /** Reconstructs and authenticates the root key from complete pending shares, wiping them. */
  async #recoverRootKey(pending: PendingShares, config: { bytes: Uint8Array }): Promise<{ rootKey: Uint8Array; unsealKey: Uint8Array }> {
    let unsealKey: Uint8Array | undefined;
    try {
      unsealKey = await combineShares(pending.shares);
    } catch (e) {
      throw new KeyholdError('KH_UNSEAL_FAILED', undefined, { cause: e });
    } finally {
      wipe(...pending.shares);
      pending.shares.length = 0;
      pending.ids.clear();
    }
    const wrapped = await this.#backend.get(ROOT_KEY_PATH);
    const rootKey = wrapped === undefined ? undefined : aesGcmDecrypt(unsealKey, wrapped, rootKeyAad(config.bytes));
    if (rootKey === undefined) {
      wipe(unsealKey);
      throw new KeyholdError('KH_UNSEAL_FAILED');
    }
    return { rootKey, unsealKey };
  }

  /**
   * Submits one unseal share.
   * @throws KeyholdError KH_UNSEAL_SHARE_MALFORMED, KH_UNSEAL_SHARE_DUPLICATE, KH_UNSEAL_FAILED, KH_ALREADY_UNSEALED
   */
  unseal(share: string): Promise<SealStatus> {
    return this.#serial(async () => {
      const config = await this.#requireConfig();
      if (!this.#barrier.sealed) throw new KeyholdError('KH_ALREADY_UNSEALED');
      if (this.#addShare(this.#unseal, share, config.parsed)) {
        const { rootKey, unsealKey } = await this.#recoverRootKey(this.#unseal, config);
        try {
          await this.#barrier.unseal(rootKey);
        } finally {
          wipe(rootKey, unsealKey);
        }
      }
      return this.status();
    });
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
   * @throws KeyholdError KH_REKEY_NOT_STARTED, KH_REKEY_NONCE_MISMATCH, the unseal codes (KH_UNSEAL_FAILED ...)
   */
  rekeyUpdate(share: string, nonce: string): Promise<RekeyResult> {
    return this.#serial(async () => {
      const config = await this.#requireConfig();
      const rekey = this.#rekey;
      if (rekey === undefined) throw new KeyholdError('KH_REKEY_NOT_STARTED');
      if (!constantTimeEqual(utf8(nonce), utf8(rekey.nonce))) throw new KeyholdError('KH_REKEY_NONCE_MISMATCH');
      if (!this.#addShare(rekey, share, config.parsed)) return { complete: false, ...this.rekeyStatus() };
      this.#rekey = undefined;
      const { rootKey, unsealKey } = await this.#recoverRootKey(rekey, config);
      const newUnsealKey = entropy(UNSEAL_KEY_BYTES, 'unseal-key');
      try {
        const newConfig: SealConfig = { ...config.parsed, shares: rekey.newShares, threshold: rekey.newThreshold };
        const newConfigBytes = encodeSealConfig(newConfig);
        const shares = await splitSecret(newUnsealKey, rekey.newShares, rekey.newThreshold);
        await this.#backend.transaction([
          { type: 'put', key: SEAL_CONFIG_PATH, value: newConfigBytes },
          { type: 'put', key: ROOT_KEY_PATH, value: aesGcmEncrypt(newUnsealKey, rootKey, rootKeyAad(newConfigBytes)) },
        ]);
        this.#config = { parsed: newConfig, bytes: newConfigBytes };
        const encoded = shares.map(encodeShare);
        wipe(...shares);
        return { complete: true, shares: encoded, threshold: rekey.newThreshold };
      } finally {
        wipe(rootKey, unsealKey, newUnsealKey);
      }
    });
  }
}
