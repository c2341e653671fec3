/**
 * Shamir secret sharing over GF(2^8), delegated to the audited
 * `shamir-secret-sharing` package (Cure53 / Zellic audits). We only add the
 * degenerate 1-of-1 case (the share is the secret, as Vault does) and input
 * validation with Keyhold error codes.
 *
 * A share produced by the library is the secret's length plus one byte (the x
 * coordinate).
 */
import { combine, split } from 'shamir-secret-sharing';
import { KeyholdError } from '../errors.js';

export const MAX_SHARES = 255;

export function validateShamirParams(shares: number, threshold: number): void {
  const ok =
    Number.isInteger(shares) &&
    Number.isInteger(threshold) &&
    shares >= 1 &&
    shares <= MAX_SHARES &&
    threshold >= 1 &&
    threshold <= shares &&
    (shares === 1 || threshold >= 2);
  if (!ok) throw new KeyholdError('KH_SEAL_PARAMS_INVALID');
}

export async function splitSecret(secret: Uint8Array, shares: number, threshold: number): Promise<Uint8Array[]> {
  validateShamirParams(shares, threshold);
  if (shares === 1) return [secret.slice()];
  return split(secret, shares, threshold);
}

/** Reconstructs the secret from exactly `threshold` distinct shares (the caller has checked count and shape). */
export async function combineShares(shares: Uint8Array[]): Promise<Uint8Array> {
  if (shares.length === 1) return shares[0]!.slice();
  return combine(shares);
}
