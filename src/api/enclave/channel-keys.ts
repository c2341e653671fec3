/**
 * The channel's X25519 key pairs (docs/protocols.md §1): generated in memory at
 * start, rotated every `rotateMs`, the previous pair honoured for `graceMs`
 * after a rotation and then wiped. Nothing is ever stored, so a restart
 * changes the key and clients fetch it again.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelKeyPair, ChannelSuite } from '../../crypto/e2e/suite.js';

export interface ChannelKey {
  readonly keyId: string;
  readonly pair: ChannelKeyPair;
  readonly createdAt: number;
  /** When it stops being the current key (it is then honoured for the grace period). */
  readonly expiresAt: number;
}

export interface ChannelKeysOptions {
  readonly rotateMs: number;
  readonly graceMs: number;
  readonly now?: () => number;
  /** Called after each rotation (the attestation of the new key is prepared there). */
  readonly onRotate?: (key: ChannelKey) => void;
}

export class ChannelKeys {
  readonly #suite: ChannelSuite;
  readonly #options: ChannelKeysOptions;
  readonly #now: () => number;
  #current: ChannelKey;
  #previous: { key: ChannelKey; until: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(suite: ChannelSuite, options: ChannelKeysOptions) {
    this.#suite = suite;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#current = this.#make();
  }

  #make(): ChannelKey {
    const createdAt = this.#now();
    return { keyId: `ck-${randomBytes(8).toString('hex')}`, pair: this.#suite.generateKeyPair(), createdAt, expiresAt: createdAt + this.#options.rotateMs };
  }

  /** Starts the rotation timer (unref'd: it never keeps the process alive). */
  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), Math.min(this.#options.rotateMs, 60_000)).unref();
  }

  #tick(): void {
    const now = this.#now();
    if (this.#previous !== undefined && now >= this.#previous.until) this.#dropPrevious();
    if (now >= this.#current.expiresAt) this.rotate();
  }

  #dropPrevious(): void {
    this.#previous?.key.pair.wipe();
    this.#previous = undefined;
  }

  /** Makes a new current key; the old one stays valid for the grace period. */
  rotate(): ChannelKey {
    this.#dropPrevious();
    const old = this.#current;
    this.#current = this.#make();
    if (this.#options.graceMs > 0) this.#previous = { key: old, until: this.#now() + this.#options.graceMs };
    else old.pair.wipe();
    this.#options.onRotate?.(this.#current);
    return this.#current;
  }

  current(): ChannelKey {
    if (this.#now() >= this.#current.expiresAt) this.#tick();
    return this.#current;
  }

  /** The key a request names (no keyId: the current key); undefined when unknown or past its grace. */
  find(keyId: string | undefined): ChannelKey | undefined {
    const current = this.current();
    if (keyId === undefined || keyId === current.keyId) return current;
    const previous = this.#previous;
    if (previous !== undefined && previous.key.keyId === keyId) {
      if (this.#now() < previous.until) return previous.key;
      this.#dropPrevious();
    }
    return undefined;
  }

  /** Stops rotation and wipes every key. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#dropPrevious();
    this.#current.pair.wipe();
  }
}
