/**
 * The node's transport key: VSSM's "RPC certificate" (docs/compat.md#vssm,
 * "Boot sequence and bootstrap"). Its certificate comes from the configuration; its private key
 * exists only where an operator handed it over (bootstrap) and, once the
 * vault is unsealed, inside the barrier. It serves three things: the API
 * port's TLS identity, the key backups are wrapped to (generatebackup), and
 * the bootstrap of the vault itself:
 *
 * - bootstrap on an uninitialised vault initialises it with one unseal share
 *   (or, with an automatic seal, one recovery share) and stores that share
 *   only wrapped to the certificate's public key (RSA-OAEP-SHA-256 + AES-256-GCM,
 *   crypto/recipient/rsa-oaep-envelope.ts) at the physical record
 *   `cluster/bootstrap-share`. Nobody sees the share; the holder of the
 *   transport private key is the one who can unseal, exactly the trust VSSM
 *   places in its RPC key (it decrypts every VSSM backup and sync message).
 * - bootstrap on a sealed vault opens that share and unseals with it: a
 *   restarted node comes back by being bootstrapped again, as a VSSM node does.
 * - bootstrap on an unsealed vault only installs the key.
 * In each case the key must belong to the configured certificate, and is then
 * kept (seal-wrapped) in the barrier, so an automatic seal's restart finds it.
 *
 * Known gap: initialising and storing the wrapped share are two writes; a
 * crash between them leaves a vault nobody can unseal (start again with a
 * fresh storage file: it held nothing yet).
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { rsaOaepOpen, rsaOaepSeal } from '../crypto/recipient/rsa-oaep-envelope.js';
import type { PhysicalBackend } from '../storage/backend.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import type { SealManager } from '../seal/seal-manager.js';

/** Physical record (outside the barrier: it must be readable while sealed) of the wrapped bootstrap share. */
export const BOOTSTRAP_SHARE_PATH = 'cluster/bootstrap-share';
const SHARE_INFO = utf8('keyhold-bootstrap-share-v1');
const KEY_PATH = 'transport-key';

export type BootstrapOutcome = 'initialized' | 'unsealed' | 'installed';

export interface TransportKeyDeps {
  backend: Pick<PhysicalBackend, 'get' | 'put'>;
  barrier: Barrier;
  seal: Pick<SealManager, 'status' | 'initialize' | 'unseal'>;
  /** The configured certificate (DER). */
  certificate: Uint8Array;
}

function spki(key: KeyObject): Uint8Array {
  return new Uint8Array((key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' }));
}

export class TransportKey {
  readonly certificate: X509Certificate;
  readonly #deps: TransportKeyDeps;
  readonly #view: BarrierView;
  readonly #spki: Uint8Array;
  #privateKey: KeyObject | undefined;
  readonly #listeners: ((key: KeyObject) => void)[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  /** @throws KeyholdError KH_CONFIG_INVALID when the certificate does not parse or has no RSA key */
  constructor(deps: TransportKeyDeps) {
    this.#deps = deps;
    try {
      this.certificate = new X509Certificate(Buffer.from(deps.certificate));
    } catch (e) {
      throw new KeyholdError('KH_CONFIG_INVALID', 'the transport (rpc) certificate is not an X.509 certificate', { cause: e });
    }
    // Backups and the bootstrap share are wrapped with RSA-OAEP, as VSSM wraps its backups.
    if (this.certificate.publicKey.asymmetricKeyType !== 'rsa') throw new KeyholdError('KH_CONFIG_INVALID', 'the transport (rpc) certificate must carry an RSA key');
    this.#spki = spki(this.certificate.publicKey);
    this.#view = deps.barrier.view('cluster/', { sealWrap: { path: KEY_PATH } });
    deps.barrier.onSeal(() => {
      this.#privateKey = undefined;
    });
  }

  get publicKey(): KeyObject {
    return this.certificate.publicKey;
  }

  /** The private key, while known (after bootstrap, or loaded from the unsealed barrier). */
  get privateKey(): KeyObject | undefined {
    return this.#privateKey;
  }

  /** Called with the private key each time it becomes known (to serve TLS with it). */
  onInstalled(listener: (key: KeyObject) => void): void {
    this.#listeners.push(listener);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** @throws KeyholdError KH_TRANSPORT_KEY_MISMATCH unless `pkcs8` is the certificate's private key */
  #parse(pkcs8: Uint8Array): KeyObject {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw new KeyholdError('KH_TRANSPORT_KEY_MISMATCH', 'rpcPrivateKey is not a PKCS#8 (DER) private key', { cause: e });
    }
    if (!constantTimeEqual(spki(key), this.#spki)) throw new KeyholdError('KH_TRANSPORT_KEY_MISMATCH');
    return key;
  }

  #install(key: KeyObject): void {
    this.#privateKey = key;
    for (const l of this.#listeners) l(key);
  }

  /**
   * VSSM's bootstrap: see the module header.
   * @throws KeyholdError KH_TRANSPORT_KEY_MISMATCH (wrong key, or a share wrapped to another certificate); KH_TRANSPORT_KEY_MISSING (a sealed vault that was not initialised by bootstrap: unseal it with its shares)
   */
  bootstrap(pkcs8: Uint8Array): Promise<BootstrapOutcome> {
    return this.#serial(async () => {
      const key = this.#parse(pkcs8);
      const { seal, backend } = this.#deps;
      const status = await seal.status();
      let outcome: BootstrapOutcome = 'installed';
      if (!status.initialized) {
        const { shares } = await seal.initialize({ shares: 1, threshold: 1 });
        await backend.put(BOOTSTRAP_SHARE_PATH, rsaOaepSeal(this.publicKey, utf8(shares[0]!), SHARE_INFO));
        if ((await seal.status()).sealed) await seal.unseal(shares[0]!);
        outcome = 'initialized';
      } else if (status.sealed) {
        const wrapped = await backend.get(BOOTSTRAP_SHARE_PATH);
        if (wrapped === undefined)
          throw new KeyholdError('KH_TRANSPORT_KEY_MISSING', 'this vault was not initialised by bootstrap: unseal it with its unseal shares, then bootstrap installs the key');
        const share = rsaOaepOpen(key, wrapped, SHARE_INFO);
        if (share === undefined) throw new KeyholdError('KH_TRANSPORT_KEY_MISMATCH', 'the stored bootstrap share is not wrapped to this certificate (was rpcCertificate changed?)');
        await seal.unseal(new TextDecoder().decode(share));
        share.fill(0);
        outcome = 'unsealed';
      }
      await this.#view.put(KEY_PATH, new Uint8Array(key.export({ format: 'der', type: 'pkcs8' })));
      this.#install(key);
      return outcome;
    });
  }

  /** On an unsealed vault, loads the stored private key if it is not known yet. @returns whether a key is known now */
  load(): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#privateKey !== undefined) return true;
      if (this.#deps.barrier.sealed) return false;
      const stored = await this.#view.get(KEY_PATH);
      if (stored === undefined) return false;
      // A key stored for another certificate (the configuration changed) is not used.
      let key: KeyObject;
      try {
        key = this.#parse(stored);
      } catch {
        return false;
      } finally {
        stored.fill(0);
      }
      this.#install(key);
      return true;
    });
  }
}
