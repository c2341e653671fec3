/**
 * The node's audit-signing key: Ed25519 (RFC 8032), one per vault, that signs
 * audit checkpoints (checkpoint.ts). Its 32-byte seed is created on first use
 * while unsealed and stored behind the barrier at audit/signing-key, so only
 * an unsealed vault can sign; it is loaded once per unsealed period and wiped
 * on seal. The public key is published (GET /v1/sys/audit/public-key) for
 * operators to pin; it never changes for the life of the vault.
 *
 * The chain-MAC key (audit-chain.ts) is derived from the same seed with HKDF
 * (RFC 5869, info "keyhold-audit-chain-mac-v1"): it lives behind the barrier
 * exactly as long as the signing key does, needs no record of its own, and is
 * independent of the signature key in use.
 */
import type { Barrier } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { wipe } from '../crypto/bytes.js';
import { hkdf } from '../crypto/hkdf.js';
import { ed25519, ed25519PrivateFromSeed, spkiOf } from '../crypto/signature/ed25519.js';
import { ED25519_OPTIONS, kidOf, type CheckpointKey, type CheckpointSigner, type CheckpointVerifier } from './checkpoint.js';

const PATH = 'signing-key';
const CHAIN_KEY_INFO = new TextEncoder().encode('keyhold-audit-chain-mac-v1');

/** The key for one unsealed period; sign() refuses once the seed is wiped. */
class LoadedKey implements CheckpointKey {
  readonly kid: string;
  readonly spki: Uint8Array;
  readonly verifier: CheckpointVerifier;
  readonly #seed: Uint8Array;
  #wiped = false;

  constructor(seed: Uint8Array) {
    this.#seed = seed;
    this.spki = spkiOf(ed25519PrivateFromSeed(seed));
    this.kid = kidOf(this.spki);
    this.verifier = { kid: this.kid, key: ed25519.loadPublic(this.spki) };
  }

  chainKey(): Uint8Array | undefined {
    if (this.#wiped) return undefined;
    return hkdf('sha256', this.#seed, new Uint8Array(0), CHAIN_KEY_INFO, 32);
  }

  sign(message: Uint8Array): Uint8Array | undefined {
    if (this.#wiped) return undefined;
    // A KeyObject per signature rather than one kept for the period: it is
    // once per N audit entries, and the seed stays the only copy we can wipe.
    return ed25519.sign(ed25519PrivateFromSeed(this.#seed), message, ED25519_OPTIONS);
  }

  wipe(): void {
    this.#wiped = true;
    wipe(this.#seed);
  }
}

export class AuditSigningKey implements CheckpointSigner {
  readonly #barrier: Barrier;
  readonly #key: { get(): Promise<LoadedKey> };

  constructor(barrier: Barrier) {
    this.#barrier = barrier;
    const view = barrier.view('audit/', { sealWrap: true });
    this.#key = sealScoped(
      barrier,
      async () => {
        const stored = await view.get(PATH);
        if (stored !== undefined) return new LoadedKey(stored);
        const { secret } = ed25519.generate();
        await view.put(PATH, secret);
        return new LoadedKey(secret);
      },
      (key) => key.wipe(),
    );
  }

  /**
   * The key for checkpoints, or undefined while sealed. A key that cannot be
   * loaded (storage fault, sealed mid-load) also gives undefined: a checkpoint
   * is postponed rather than failing the audit entries it would follow.
   */
  async current(): Promise<CheckpointKey | undefined> {
    if (this.#barrier.sealed) return undefined;
    try {
      return await this.#key.get();
    } catch {
      return undefined;
    }
  }

  /** The public key as PEM (SPKI) and its kid. @throws KeyholdError KH_SEALED */
  async publicKey(): Promise<{ publicKey: string; kid: string }> {
    const key = await this.#key.get();
    const pem = ed25519.loadPublic(key.spki).export({ format: 'pem', type: 'spki' });
    return { publicKey: pem.toString(), kid: key.kid };
  }
}
