/**
 * Automatic unseal at start with an automatic seal (pkcs11, enclave): try at
 * once, and while the HSM is unreachable (or refuses), stay sealed, say why,
 * and retry with exponential backoff (1 s doubling to 60 s). It never falls
 * back to anything weaker: the only other way in is the recovery-share quorum.
 * A failure that no retry can cure is reported once, as an error, and not
 * retried: this build is not the one the enclave seal bound the root key to,
 * or the HSM refused the PIN (CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
 * CKR_PIN_EXPIRED, ...: KH_HSM_LOGIN_FAILED). The PIN comes from the
 * configuration and does not change while the process runs, and a real HSM
 * locks the user PIN after a few wrong tries (PKCS#11 v2.40 §5.6 C_Login,
 * CKF_USER_PIN_FINAL_TRY / CKF_USER_PIN_LOCKED), so retrying would turn an
 * operator's typo into a locked token. Each attempt's outcome is reported to
 * the seal manager, whose status (GET /v1/sys/seal-status `autoUnseal`) says
 * whether it is retrying or stopped, and why.
 */
import { KeyholdError } from '../errors.js';
import type { AutoUnsealReport, SealManager } from './seal-manager.js';

export interface AutoUnsealLog {
  info(msg: string): void;
  warn(obj: { code: string; retryInMs: number }, msg: string): void;
  error(obj: { code: string; reason: string }, msg: string): void;
}

/** Codes that do not change while the process runs: retrying cannot help (and for the PIN, would lock the token). */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['KH_SEAL_MEASUREMENT_MISMATCH', 'KH_HSM_LOGIN_FAILED']);

export class AutoUnsealer {
  readonly #seal: SealManager;
  readonly #log: AutoUnsealLog;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  #lastError: string | undefined;
  attempts = 0;

  constructor(seal: SealManager, log: AutoUnsealLog, options: { minDelayMs?: number; maxDelayMs?: number } = {}) {
    this.#seal = seal;
    this.#log = log;
    this.#minDelayMs = options.minDelayMs ?? 1000;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  /** The code of the last failed attempt while the vault is still sealed (an operator may have unsealed it since), for status and metrics. */
  get lastError(): string | undefined {
    return this.#seal.sealed ? this.#lastError : undefined;
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
        if (await this.#seal.autoUnseal()) this.#log.info(`unsealed by the ${this.#seal.configuredType} seal`);
        this.#lastError = undefined;
        this.#report(undefined);
      } catch (e) {
        const code = e instanceof KeyholdError ? e.code : 'KH_INTERNAL';
        // KeyholdError messages are secret-free (the PKCS#11 layer names the function and CKR only); anything else is not shown.
        const message = e instanceof KeyholdError ? e.message : 'internal error';
        this.#lastError = code;
        if (this.#stopped) return;
        if (PERMANENT_CODES.has(code)) {
          this.#report({ state: 'stopped', code, message });
          this.#log.error(
            { code, reason: message },
            code === 'KH_HSM_LOGIN_FAILED'
              ? 'automatic unseal stopped: the HSM refused the PIN, and it is not retried (a real HSM locks the PIN after a few wrong tries); fix seal.pkcs11 pinEnv/pinFile and restart'
              : 'automatic unseal refused and not retried; the vault stays sealed until an operator acts',
          );
          return;
        }
        this.#report({ state: 'retrying', code, message });
        this.#log.warn({ code, retryInMs: delay }, 'automatic unseal failed; the vault stays sealed and retries');
        this.#timer = setTimeout(() => void this.#attempt(Math.min(delay * 2, this.#maxDelayMs)), delay);
        this.#timer.unref();
      }
    })();
    return this.#running;
  }

  #report(report: AutoUnsealReport | undefined): void {
    this.#seal.reportAutoUnseal(report);
  }

  /** Stops retrying and waits for an attempt in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }
}
