/**
 * Automatic unseal at start with an HSM seal: try at once, and while the HSM
 * is unreachable (or refuses), stay sealed, say why, and retry with
 * exponential backoff (1 s doubling to 60 s). It never falls back to anything
 * weaker: the only other way in is the recovery-share quorum.
 */
import { KeyholdError } from '../errors.js';
import type { SealManager } from './seal-manager.js';

export interface AutoUnsealLog {
  info(msg: string): void;
  warn(obj: { code: string; retryInMs: number }, msg: string): void;
}

export class AutoUnsealer {
  readonly #seal: SealManager;
  readonly #log: AutoUnsealLog;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  /** The code of the last failed attempt, for status and metrics. */
  lastError: string | undefined;
  attempts = 0;

  constructor(seal: SealManager, log: AutoUnsealLog, options: { minDelayMs?: number; maxDelayMs?: number } = {}) {
    this.#seal = seal;
    this.#log = log;
    this.#minDelayMs = options.minDelayMs ?? 1000;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  /** Starts trying; resolves after the first attempt (whatever its outcome). */
  start(): Promise<void> {
    this.#stopped = false;
    return this.#attempt(this.#minDelayMs);
  }

  #attempt(delay: number): Promise<void> {
    this.#running = (async () => {
      this.attempts++;
      try {
        if (await this.#seal.autoUnseal()) this.#log.info('unsealed by the HSM seal');
        this.lastError = undefined;
      } catch (e) {
        const code = e instanceof KeyholdError ? e.code : 'KH_INTERNAL';
        this.lastError = code;
        if (this.#stopped) return;
        this.#log.warn({ code, retryInMs: delay }, 'automatic unseal failed; the vault stays sealed and retries');
        this.#timer = setTimeout(() => void this.#attempt(Math.min(delay * 2, this.#maxDelayMs)), delay);
        this.#timer.unref();
      }
    })();
    return this.#running;
  }

  /** Stops retrying and waits for an attempt in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }
}
