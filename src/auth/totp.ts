/**
 * TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s, as every authenticator
 * app expects) through otplib, plus ten one-time recovery codes.
 *
 * Records at auth/totp/<HMAC(index key, username)> hold the base32 secret,
 * whether enrolment was confirmed, the last accepted time step (a code is
 * accepted once: replay within its window is refused) and SHA-256 hashes of
 * the unused recovery codes. Codes are compared by otplib / by hash, never
 * logged.
 *
 * Enrolment needs a single-use enrolment code an administrator issued for
 * the account (issue 15 H4): a password alone must never become a second
 * factor, or anyone holding a stolen password enrols their own authenticator
 * and passes every `context.mfa` check. This is Vault's admin-generate /
 * Okta's admin-assigned enrolment: the administrator vouches for the person,
 * out of band. A confirmed factor is never replaced through enrolment.
 * Records at auth/totp/<HMAC(index key, "totp-enrol" user)> hold the code's
 * SHA-256 and its expiry.
 *
 * Everything that reads a user's record or enrolment code and then writes
 * or deletes it (spending a code, recording the last time step, dropping a
 * recovery code) runs under a per-user lock: without it, concurrent requests
 * all read the unspent state and all pass (review finding 11). The lock is
 * per process; nodes sharing storage have no compare-and-set to lean on.
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

interface EnrollmentCodeRecord {
  hash: string;
  expiresAt: number;
}

const RECOVERY_CODES = 10;
/** How long an enrolment code stays usable: long enough to reach the person out of band, short enough not to linger. */
export const ENROLLMENT_CODE_TTL_MS = 24 * 3_600_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class Totp {
  readonly #view: BarrierView;
  readonly #issuer: string;
  readonly #now: () => number;
  // The tail of each user's chain of read-then-write steps; an entry is dropped when its chain drains.
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(barrier: Barrier, issuer: string, now: () => number = Date.now) {
    this.#view = barrier.view('auth/totp/', { sealWrap: true });
    this.#issuer = issuer;
    this.#now = now;
  }

  /** Runs `work` after every earlier read-then-write step on `user` has finished. */
  async #exclusive<T>(user: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(user) ?? Promise.resolve();
    const mine = before.then(work, work);
    const tail = mine.catch(() => undefined);
    this.#locks.set(user, tail);
    try {
      return await mine;
    } finally {
      if (this.#locks.get(user) === tail) this.#locks.delete(user);
    }
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

  /** Removes the user's second factor and any unused enrolment code (when the user is deleted). */
  async forget(user: string): Promise<void> {
    await this.#exclusive(user, async () => {
      await this.#view.delete(this.#path(user));
      await this.#view.delete(this.#codePath(user));
    });
  }

  #codePath(user: string): string {
    return this.#view.indexPath('totp-enrol', user);
  }

  /**
   * Issues a single-use enrolment code for a user without a confirmed factor
   * (it replaces any earlier unused one). Shown once; only its hash is kept.
   * @throws KeyholdError KH_AUTH_MFA_STATE when the user already has a confirmed factor
   */
  async issueEnrollmentCode(user: string): Promise<{ enrollmentCode: string; expiresAt: string }> {
    return this.#exclusive(user, () => this.#issueEnrollmentCode(user));
  }

  async #issueEnrollmentCode(user: string): Promise<{ enrollmentCode: string; expiresAt: string }> {
    if (await this.required(user)) throw new KeyholdError('KH_AUTH_MFA_STATE', 'TOTP is already enrolled for this user');
    const enrollmentCode = randomBytes(16).toString('hex');
    const expiresAt = this.#now() + ENROLLMENT_CODE_TTL_MS;
    await this.#view.put(this.#codePath(user), utf8(JSON.stringify({ hash: sha256(enrollmentCode), expiresAt } satisfies EnrollmentCodeRecord)));
    return { enrollmentCode, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Spends the user's enrolment code; @throws KeyholdError KH_AUTH_ENROLLMENT_CODE_INVALID when it is missing, wrong or expired. */
  async #spendEnrollmentCode(user: string, code: string): Promise<void> {
    const bytes = await this.#view.get(this.#codePath(user));
    const record = bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as EnrollmentCodeRecord);
    const matches = record !== undefined && constantTimeEqual(utf8(record.hash), utf8(sha256(code.trim().toLowerCase())));
    if (record === undefined || !matches || record.expiresAt <= this.#now()) throw new KeyholdError('KH_AUTH_ENROLLMENT_CODE_INVALID');
    await this.#view.delete(this.#codePath(user));
  }

  /**
   * Starts (or restarts, before confirmation) an enrolment with an enrolment
   * code, which it spends; the secret and recovery codes are shown once.
   * @throws KeyholdError KH_AUTH_MFA_STATE when a factor is already confirmed, KH_AUTH_ENROLLMENT_CODE_INVALID
   */
  async enroll(user: string, enrollmentCode: string): Promise<{ secret: string; uri: string; recoveryCodes: string[] }> {
    return this.#exclusive(user, () => this.#enroll(user, enrollmentCode));
  }

  async #enroll(user: string, enrollmentCode: string): Promise<{ secret: string; uri: string; recoveryCodes: string[] }> {
    if (await this.required(user)) throw new KeyholdError('KH_AUTH_MFA_STATE', 'TOTP is already enrolled for this user');
    await this.#spendEnrollmentCode(user, enrollmentCode);
    // 160-bit secret (RFC 4226's recommendation) from the vault's entropy source, so HSM augmentation covers it.
    const secret = new ScureBase32Plugin().encode(entropy(20, 'totp-secret'));
    const recoveryCodes = Array.from({ length: RECOVERY_CODES }, () => randomBytes(10).toString('hex'));
    await this.#put(user, { secret, confirmed: false, lastTimeStep: 0, recoveryHashes: recoveryCodes.map(sha256) });
    return { secret, uri: generateURI({ issuer: this.#issuer, label: user, secret }), recoveryCodes };
  }

  /** Confirms an enrolment with a first code. */
  async confirm(user: string, code: string): Promise<void> {
    await this.#exclusive(user, () => this.#confirm(user, code));
  }

  async #confirm(user: string, code: string): Promise<void> {
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
    return this.#exclusive(user, () => this.#verifySecondFactor(user, factor));
  }

  async #verifySecondFactor(user: string, factor: { otp?: string | undefined; recoveryCode?: string | undefined }): Promise<string[] | undefined> {
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
