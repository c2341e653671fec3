/**
 * TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s, as every authenticator
 * app expects) through otplib, plus ten one-time recovery codes.
 *
 * Records at auth/totp/<HMAC(index key, username)> hold the base32 secret,
 * whether enrolment was confirmed, the last accepted time step (a code is
 * accepted once: replay within its window is refused) and SHA-256 hashes of
 * the unused recovery codes. Codes are compared by otplib / by hash, never
 * logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { generateURI, ScureBase32Plugin, verify } from 'otplib';
import { entropy } from '../crypto/random.js';
import { KeyholdError } from '../errors.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';

interface TotpRecord {
  secret: string;
  confirmed: boolean;
  lastTimeStep: number;
  recoveryHashes: string[];
}

const RECOVERY_CODES = 10;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class Totp {
  readonly #view: BarrierView;
  readonly #issuer: string;
  readonly #now: () => number;

  constructor(barrier: Barrier, issuer: string, now: () => number = Date.now) {
    this.#view = barrier.view('auth/totp/', { sealWrap: true });
    this.#issuer = issuer;
    this.#now = now;
  }

  #path(user: string): string {
    return this.#view.indexPath('totp-user', user);
  }

  async #get(user: string): Promise<TotpRecord | undefined> {
    const bytes = await this.#view.get(this.#path(user));
    return bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as TotpRecord);
  }

  async #put(user: string, record: TotpRecord): Promise<void> {
    await this.#view.put(this.#path(user), utf8(JSON.stringify(record)));
  }

  /** True once the user has confirmed an enrolment: logins then need a second factor. */
  async required(user: string): Promise<boolean> {
    return (await this.#get(user))?.confirmed === true;
  }

  /** Removes the user's second factor (when the user is deleted). */
  async forget(user: string): Promise<void> {
    await this.#view.delete(this.#path(user));
  }

  /** Starts (or restarts, before confirmation) an enrolment; the secret and recovery codes are shown once. */
  async enroll(user: string): Promise<{ secret: string; uri: string; recoveryCodes: string[] }> {
    if (await this.required(user)) throw new KeyholdError('KH_AUTH_MFA_STATE', 'TOTP is already enrolled for this user');
    // 160-bit secret (RFC 4226's recommendation) from the vault's entropy source, so HSM augmentation covers it.
    const secret = new ScureBase32Plugin().encode(entropy(20, 'totp-secret'));
    const recoveryCodes = Array.from({ length: RECOVERY_CODES }, () => randomBytes(10).toString('hex'));
    await this.#put(user, { secret, confirmed: false, lastTimeStep: 0, recoveryHashes: recoveryCodes.map(sha256) });
    return { secret, uri: generateURI({ issuer: this.#issuer, label: user, secret }), recoveryCodes };
  }

  /** Confirms an enrolment with a first code. */
  async confirm(user: string, code: string): Promise<void> {
    const record = await this.#get(user);
    if (record === undefined || record.confirmed) throw new KeyholdError('KH_AUTH_MFA_STATE', 'no TOTP enrolment is waiting for confirmation');
    const step = await this.#check(record, code);
    if (step === undefined) throw new KeyholdError('KH_AUTH_MFA_FAILED');
    await this.#put(user, { ...record, confirmed: true, lastTimeStep: step });
  }

  async #check(record: TotpRecord, code: string): Promise<number | undefined> {
    if (!/^[0-9]{6}$/.test(code)) return undefined;
    const result = await verify({ secret: record.secret, token: code, epoch: Math.floor(this.#now() / 1000), epochTolerance: 30, afterTimeStep: record.lastTimeStep });
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  }

  /**
   * Checks a second factor for a confirmed user: a TOTP code (each accepted
   * once) or an unused recovery code (then spent). Returns the amr values to add.
   */
  async verifySecondFactor(user: string, factor: { otp?: string | undefined; recoveryCode?: string | undefined }): Promise<string[] | undefined> {
    const record = await this.#get(user);
    if (record === undefined || !record.confirmed) return undefined;
    if (factor.otp !== undefined) {
      const step = await this.#check(record, factor.otp);
      if (step === undefined) return undefined;
      await this.#put(user, { ...record, lastTimeStep: step });
      return ['otp', 'mfa'];
    }
    if (factor.recoveryCode !== undefined) {
      const h = sha256(factor.recoveryCode.trim().toLowerCase());
      const i = record.recoveryHashes.findIndex((x) => constantTimeEqual(utf8(x), utf8(h)));
      if (i < 0) return undefined;
      await this.#put(user, { ...record, recoveryHashes: record.recoveryHashes.filter((_, j) => j !== i) });
      return ['mfa'];
    }
    return undefined;
  }
}
