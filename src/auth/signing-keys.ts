/**
 * Token-signing keys: Ed25519, generated from the entropy source, stored
 * through the barrier at auth/signing-keys. The newest key signs; older keys
 * stay in the JWKS for one token lifetime after a rotation so tokens already
 * issued keep verifying (rotation with overlap).
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { entropy } from '../crypto/random.js';
import { fromBase64Strict, toBase64, utf8 } from '../crypto/bytes.js';
import { ed25519PrivateFromSeed } from '../crypto/signature/ed25519.js';
import { createPublicKey } from 'node:crypto';

interface StoredKey {
  kid: string;
  seed: string;
  createdAt: string;
  /** When this key stopped signing (it is published until then + overlap). */
  retiredAt?: string;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly retiredAt?: number;
}

const PATH = 'signing-keys';

export class SigningKeys {
  readonly #view: BarrierView;
  readonly #keys: { get(): Promise<SigningKey[]>; set(keys: SigningKey[]): void };
  readonly #overlapMs: number;

  constructor(barrier: Barrier, overlapMs: number) {
    this.#view = barrier.view('auth/', { sealWrap: { path: PATH } });
    this.#overlapMs = overlapMs;
    this.#keys = sealScoped(barrier, async () => {
      let stored = await this.#stored();
      if (stored.length === 0) {
        stored = [{ kid: randomUUID(), seed: toBase64(entropy(32, 'token-signing-key')), createdAt: new Date().toISOString() }];
        await this.#view.put(PATH, utf8(JSON.stringify(stored)));
      }
      return SigningKeys.#parse(stored);
    });
  }

  static #parse(stored: StoredKey[]): SigningKey[] {
    return stored.map((s) => {
      const privateKey = ed25519PrivateFromSeed(fromBase64Strict(s.seed)!);
      return { kid: s.kid, privateKey, publicKey: createPublicKey(privateKey), ...(s.retiredAt ? { retiredAt: Date.parse(s.retiredAt) } : {}) };
    });
  }

  async #stored(): Promise<StoredKey[]> {
    const bytes = await this.#view.get(PATH);
    return bytes === undefined ? [] : (JSON.parse(new TextDecoder().decode(bytes)) as StoredKey[]);
  }

  #load(): Promise<SigningKey[]> {
    return this.#keys.get();
  }

  /** The key that signs new tokens. */
  async active(): Promise<SigningKey> {
    const keys = await this.#load();
    return keys[keys.length - 1]!;
  }

  /** Keys whose tokens may still be live: the active one and those retired within the overlap. */
  async published(now = Date.now()): Promise<SigningKey[]> {
    return (await this.#load()).filter((k) => k.retiredAt === undefined || k.retiredAt + this.#overlapMs > now);
  }

  /** Starts signing with a new key; the old one stays published for the overlap, then is dropped. */
  async rotate(now = new Date()): Promise<SigningKey> {
    const stored = (await this.#stored()).filter((s) => s.retiredAt === undefined || Date.parse(s.retiredAt) + this.#overlapMs > now.getTime());
    for (const s of stored) s.retiredAt ??= now.toISOString();
    stored.push({ kid: randomUUID(), seed: toBase64(entropy(32, 'token-signing-key')), createdAt: now.toISOString() });
    await this.#view.put(PATH, utf8(JSON.stringify(stored)));
    this.#keys.set(SigningKeys.#parse(stored));
    return this.active();
  }
}
