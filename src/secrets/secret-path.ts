/**
 * Secret paths: `/`-separated segments such as `app/db` or `web/tls`. They
 * appear in URLs, CLI arguments and Cedar policies (`resource.path like
 * "app/*"`), so each segment is plain text and `.`/`..` segments, empty
 * segments and leading or trailing slashes are refused: a path names one
 * secret, never a relative location.
 */
import { KeyholdError } from '../errors.js';

export const MAX_SECRET_PATH_LENGTH = 256;
export const MAX_SECRET_PATH_SEGMENTS = 16;
const SEGMENT = /^[A-Za-z0-9_@=+-][A-Za-z0-9._@=+-]{0,127}$/;

function segmentsValid(path: string): boolean {
  if (path.length === 0 || path.length > MAX_SECRET_PATH_LENGTH) return false;
  const segments = path.split('/');
  if (segments.length > MAX_SECRET_PATH_SEGMENTS) return false;
  // A segment may contain dots (`db.conf`) but not be only dots: SEGMENT refuses a leading dot.
  return segments.every((s) => SEGMENT.test(s));
}

/**
 * @returns the path, unchanged
 * @throws KeyholdError KH_SECRET_PATH_INVALID
 */
export function checkSecretPath(path: string): string {
  if (!segmentsValid(path)) {
    throw new KeyholdError(
      'KH_SECRET_PATH_INVALID',
      `secret paths are 1-${MAX_SECRET_PATH_LENGTH} characters of up to ${MAX_SECRET_PATH_SEGMENTS} "/"-separated segments of letters, digits and ._@=+- (not starting with ".")`,
    );
  }
  return path;
}

/**
 * A list prefix: empty (everything), or a valid path optionally ending in "/".
 * `app/` lists under the folder app, `app` lists `app` itself and names that start with it.
 * @throws KeyholdError KH_SECRET_PATH_INVALID
 */
export function checkSecretPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkSecretPath(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}
