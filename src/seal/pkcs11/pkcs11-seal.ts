/**
 * The `pkcs11` seal: the root key is wrapped by a key that lives on an HSM
 * and never leaves it (RootKeyWrapper), and the same HSM connection feeds the
 * entropy mixer. The connection opens on demand, so a node whose HSM is down
 * at start stays sealed and its auto-unsealer retries (a failed open is not
 * cached).
 *
 * Wrapped root key layout (core/root-key):
 *   aes-gcm:  0x01 0x01 || iv (12) || CKM_AES_GCM(root key, AAD) (ciphertext || tag)
 *   rsa-oaep: 0x01 0x02 || u16 length || CKM_RSA_PKCS_OAEP(data key; SHA-256, or SHA-1 by configuration) || AES-256-GCM(data key, root key, AAD)
 * RSA-OAEP cannot authenticate associated data, so it wraps a fresh data key
 * and AES-GCM (node:crypto) binds the AAD; the data key is wiped after use.
 */
import { readFileSync } from 'node:fs';
import { KeyholdError } from '../../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../../crypto/aes-gcm.js';
import { concatBytes, wipe } from '../../crypto/bytes.js';
import { entropy } from '../../crypto/random.js';
import type { RootKeyWrapperOf } from '../root-key-wrapper.js';
import { Pkcs11Client, type Pkcs11Key } from './pkcs11-client.js';

export interface Pkcs11SealConfig {
  module: string;
  slot?: number | undefined;
  tokenLabel?: string | undefined;
  pinEnv?: string | undefined;
  pinFile?: string | undefined;
  keyLabel: string;
  mechanism: 'aes-gcm' | 'rsa-oaep';
  generateKey: boolean;
  oaepHash?: 'sha256' | 'sha1' | undefined;
}

const VERSION = 1;
const MECH_AES_GCM = 1;
const MECH_RSA_OAEP = 2;
const IV_BYTES = 12;

/** The user PIN from its environment variable or file; never from the configuration file. */
export function readPin(config: Pick<Pkcs11SealConfig, 'pinEnv' | 'pinFile'>, env: NodeJS.ProcessEnv = process.env): string {
  if (config.pinEnv !== undefined) {
    const pin = env[config.pinEnv];
    if (pin === undefined || pin === '') throw new KeyholdError('KH_CONFIG_INVALID', `seal.pkcs11.pinEnv: the environment variable ${config.pinEnv} is not set`);
    return pin;
  }
  if (config.pinFile !== undefined) {
    try {
      return readFileSync(config.pinFile, 'utf8').trim();
    } catch (e) {
      throw new KeyholdError('KH_CONFIG_INVALID', `seal.pkcs11.pinFile: cannot read ${config.pinFile}`, { cause: e });
    }
  }
  throw new KeyholdError('KH_CONFIG_INVALID', 'seal.pkcs11 needs pinEnv or pinFile');
}

/**
 * One HSM connection, opened on first use and reused; a failed open is
 * retried by the next call, except when the HSM refused the PIN
 * (KH_HSM_LOGIN_FAILED): the PIN is this process's configuration and a real
 * HSM locks it after a few wrong tries, so every later call (auto-unseal, an
 * operator's unseal, the entropy mixer's draws) fails with that error and
 * never presents the PIN again. A restart with a corrected PIN tries anew.
 */
export class HsmConnection {
  readonly #config: Pkcs11SealConfig;
  readonly #pin: string;
  #client: Promise<Pkcs11Client> | undefined;
  #open: Pkcs11Client | undefined;
  #pinRefused: KeyholdError | undefined;

  constructor(config: Pkcs11SealConfig, pin: string) {
    this.#config = config;
    this.#pin = pin;
  }

  client(): Promise<Pkcs11Client> {
    if (this.#pinRefused !== undefined) return Promise.reject(this.#pinRefused);
    this.#client ??= Pkcs11Client.open({
      module: this.#config.module,
      ...(this.#config.slot !== undefined ? { slot: this.#config.slot } : { tokenLabel: this.#config.tokenLabel! }),
      pin: this.#pin,
    }).then(
      (c) => (this.#open = c),
      (e: unknown) => {
        this.#client = undefined;
        if (e instanceof KeyholdError && e.code === 'KH_HSM_LOGIN_FAILED') this.#pinRefused = e;
        throw e;
      },
    );
    return this.#client;
  }

  /** Random bytes for the entropy mixer (synchronous); throws while the HSM is not connected. */
  randomSync(length: number): Uint8Array {
    if (this.#pinRefused !== undefined) throw this.#pinRefused;
    if (this.#open === undefined) {
      void this.client().catch(() => undefined);
      throw new KeyholdError('KH_HSM_UNAVAILABLE', 'the HSM is not connected yet');
    }
    return this.#open.generateRandomSync(length);
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    this.#open = undefined;
    if (pending !== undefined) await pending.then((c) => c.close()).catch(() => undefined);
  }
}

export class Pkcs11Seal implements RootKeyWrapperOf<'pkcs11'> {
  readonly type = 'pkcs11' as const;
  readonly description: RootKeyWrapperOf<'pkcs11'>['description'];
  readonly #hsm: HsmConnection;
  readonly #config: Pkcs11SealConfig;
  readonly #oaepHash: 'SHA-256' | 'SHA-1';

  constructor(hsm: HsmConnection, config: Pkcs11SealConfig) {
    this.#oaepHash = config.oaepHash === 'sha1' ? 'SHA-1' : 'SHA-256';
    this.#hsm = hsm;
    this.#config = config;
    this.description = { keyLabel: config.keyLabel, mechanism: config.mechanism };
  }

  /** Descriptors of the wrapping key by use, so a wrap is one HSM call, not a lookup plus a call. */
  readonly #keys = new Map<'wrap' | 'unwrap', Pkcs11Key>();

  /**
   * Runs `op` with the wrapping key for `use`. A cached descriptor that fails
   * (key deleted or replaced on the token) is dropped and the key is looked up
   * once more, so a missing key still reports KH_HSM_KEY_NOT_FOUND.
   */
  async #withKey<T>(client: Pkcs11Client, use: 'wrap' | 'unwrap', op: (key: Pkcs11Key) => Promise<T>): Promise<T> {
    const cached = this.#keys.get(use);
    if (cached !== undefined) {
      try {
        return await op(cached);
      } catch {
        this.#keys.delete(use);
      }
    }
    const key = await this.#key(client, use);
    this.#keys.set(use, key);
    return op(key);
  }

  /** The wrapping key (the public half for RSA wrap, private for unwrap); created if allowed and missing. */
  async #key(client: Pkcs11Client, use: 'wrap' | 'unwrap'): Promise<Pkcs11Key> {
    const { keyLabel, mechanism, generateKey } = this.#config;
    const keyClass = mechanism === 'aes-gcm' ? 'secret' : use === 'wrap' ? 'public' : 'private';
    const found = await client.findKey(keyLabel, keyClass);
    if (found !== null) return found;
    if (!generateKey) throw new KeyholdError('KH_HSM_KEY_NOT_FOUND', `the HSM has no ${keyClass} key labelled ${keyLabel}`);
    if (mechanism === 'aes-gcm') return client.generateAesKey(keyLabel, { bits: 256 });
    const pair = await client.generateRsaKeyPair(keyLabel, 3072);
    return use === 'wrap' ? pair.publicKey : pair.privateKey;
  }

  async wrap(rootKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const client = await this.#hsm.client();
    if (this.#config.mechanism === 'aes-gcm') {
      const { iv, ciphertext } = await this.#withKey(client, 'wrap', (key) => client.aesGcmEncrypt(key, rootKey, aad));
      return concatBytes(new Uint8Array([VERSION, MECH_AES_GCM]), iv, ciphertext);
    }
    const dataKey = entropy(32, 'seal-data-key');
    try {
      const wrappedKey = await this.#withKey(client, 'wrap', (key) => client.rsaOaepEncrypt(key, dataKey, { hash: this.#oaepHash }));
      const length = new Uint8Array([wrappedKey.length >> 8, wrappedKey.length & 0xff]);
      return concatBytes(new Uint8Array([VERSION, MECH_RSA_OAEP]), length, wrappedKey, aesGcmEncrypt(dataKey, rootKey, aad));
    } finally {
      wipe(dataKey);
    }
  }

  async unwrap(blob: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const client = await this.#hsm.client();
    if (blob.length < 2 || blob[0] !== VERSION) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the wrapped root key record is malformed');
    const mech = blob[1] === MECH_AES_GCM ? 'aes-gcm' : blob[1] === MECH_RSA_OAEP ? 'rsa-oaep' : undefined;
    if (mech !== this.#config.mechanism) throw new KeyholdError('KH_UNSEAL_FAILED', `the root key is wrapped with ${mech ?? 'an unknown mechanism'}, the configuration says ${this.#config.mechanism}`);
    try {
      if (mech === 'aes-gcm') {
        if (blob.length < 2 + IV_BYTES + 16) throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the wrapped root key record is truncated');
        return await this.#withKey(client, 'unwrap', (key) => client.aesGcmDecrypt(key, blob.subarray(2, 2 + IV_BYTES), blob.subarray(2 + IV_BYTES), aad));
      }
      const length = (blob[2]! << 8) | blob[3]!;
      const dataKey = await this.#withKey(client, 'unwrap', (key) => client.rsaOaepDecrypt(key, blob.subarray(4, 4 + length), { hash: this.#oaepHash }));
      try {
        const rootKey = aesGcmDecrypt(dataKey, blob.subarray(4 + length), aad);
        if (rootKey === undefined) throw new KeyholdError('KH_UNSEAL_FAILED');
        return rootKey;
      } finally {
        wipe(dataKey);
      }
    } catch (e) {
      // A wrong key or tampered record: the HSM refuses the decryption.
      if (e instanceof KeyholdError && e.code === 'KH_HSM_OPERATION_FAILED') throw new KeyholdError('KH_UNSEAL_FAILED', undefined, { cause: e });
      throw e;
    }
  }
}
