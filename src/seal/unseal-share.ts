/**
 * Unseal shares as operators see them: standard base64 of the raw share
 * (32 key bytes + 1 x-coordinate byte from shamir-secret-sharing; for a
 * 1-of-1 seal the share is the 32-byte unseal key itself).
 */
import { KeyholdError } from '../errors.js';
import { fromBase64Strict, toBase64 } from '../crypto/bytes.js';

export const UNSEAL_KEY_BYTES = 32;

export function shareLength(totalShares: number): number {
  return totalShares === 1 ? UNSEAL_KEY_BYTES : UNSEAL_KEY_BYTES + 1;
}

/** @throws KeyholdError KH_UNSEAL_SHARE_MALFORMED for anything but a base64 share of the right length. */
export function decodeShare(share: string, totalShares: number): Uint8Array {
  const trimmed = share.trim();
  const bytes = trimmed.length <= 64 ? fromBase64Strict(trimmed) : undefined;
  if (bytes === undefined || bytes.length !== shareLength(totalShares)) throw new KeyholdError('KH_UNSEAL_SHARE_MALFORMED');
  return bytes;
}

export const encodeShare = toBase64;

/** The x coordinate that identifies a share (last byte); 1-of-1 shares have none. */
export function shareId(share: Uint8Array, totalShares: number): number {
  return totalShares === 1 ? 0 : share[share.length - 1]!;
}
