/**
 * Random passwords drawn from Keyhold's entropy source. Each character is
 * chosen uniformly from the alphabet by rejection sampling: a byte is used
 * only when it falls below the largest multiple of the alphabet size that
 * fits in 256, so no character is more likely than another (a plain
 * `byte % n` would favour the first 256 mod n characters).
 */
import { KeyholdError } from '../errors.js';
import { entropy } from '../crypto/random.js';

export const DEFAULT_PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!@#%^*+=';
export const DEFAULT_PASSWORD_LENGTH = 32;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * @throws KeyholdError KH_SECRET_GENERATE_INVALID for a length outside 8-1024 or an alphabet
 *   that is not 2-94 distinct printable ASCII characters (no space)
 */
export function checkPasswordSpec(length: number, alphabet: string): string[] {
  if (!Number.isInteger(length) || length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH)
    throw new KeyholdError('KH_SECRET_GENERATE_INVALID', `password length must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH}`);
  const chars = [...alphabet];
  if (chars.length < 2 || !chars.every((c) => c >= '!' && c <= '~') || new Set(chars).size !== chars.length)
    throw new KeyholdError('KH_SECRET_GENERATE_INVALID', 'the alphabet must be 2-94 distinct printable ASCII characters (no space)');
  return chars;
}

/** @throws KeyholdError KH_SECRET_GENERATE_INVALID (see checkPasswordSpec) */
export function generatePassword(length = DEFAULT_PASSWORD_LENGTH, alphabet = DEFAULT_PASSWORD_ALPHABET): string {
  const chars = checkPasswordSpec(length, alphabet);
  const n = chars.length;
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    // Expected rejections are below 50% per byte; draw a little more than needed.
    const bytes = entropy(Math.ceil((length - out.length) * 1.5) + 8, 'secret-password');
    for (const b of bytes) {
      if (b >= limit) continue;
      out += chars[b % n];
      if (out.length === length) break;
    }
    bytes.fill(0);
  }
  return out;
}
