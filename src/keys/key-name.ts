/** Key name rules: they appear in URLs and CLI arguments, so keep them plain. */
import { KeyholdError } from '../errors.js';

export const KEY_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const NAME = new RegExp(KEY_NAME_PATTERN);

/** @throws KeyholdError KH_KEY_NAME_INVALID */
export function checkKeyName(name: string): string {
  if (!NAME.test(name)) throw new KeyholdError('KH_KEY_NAME_INVALID');
  return name;
}
