/** Size and count limits of a secret document and its metadata (explicit and named, so each one can be found, documented and tested). */
import { KeyholdError } from '../errors.js';

export const MAX_FILE_BYTES = 1024 * 1024;
/** Data values and file contents of one version together. */
export const MAX_DOCUMENT_BYTES = 2 * 1024 * 1024;
export const MAX_ENTRIES = 256;
/** Data keys and file names: safe as environment variable names (after mapping) and as file names (no "/", not "." or ".."). */
export const ENTRY_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$';
const ENTRY_NAME = new RegExp(ENTRY_NAME_PATTERN);
export const DEFAULT_MAX_VERSIONS = 10;
export const MAX_MAX_VERSIONS = 100;
export const MAX_CUSTOM_METADATA = 64;
export const MAX_CUSTOM_KEY_BYTES = 128;
export const MAX_CUSTOM_VALUE_BYTES = 512;
export const MAX_DELETE_AFTER_SECONDS = 10 * 365 * 86400;

const bytesOf = (s: string) => Buffer.byteLength(s, 'utf8');

/** @throws KeyholdError KH_SECRET_INVALID for a bad name or count, KH_SECRET_TOO_LARGE for sizes */
export function checkDocument(data: Readonly<Record<string, string>>, files: Readonly<Record<string, Uint8Array>>): void {
  const names = [...Object.keys(data), ...Object.keys(files)];
  if (names.length === 0) throw new KeyholdError('KH_SECRET_INVALID', 'a secret version needs at least one data entry or file');
  if (names.length > MAX_ENTRIES) throw new KeyholdError('KH_SECRET_INVALID', `a secret version holds at most ${MAX_ENTRIES} entries and files`);
  for (const n of names) if (!ENTRY_NAME.test(n)) throw new KeyholdError('KH_SECRET_INVALID', `data keys and file names are 1-128 characters of letters, digits and ._- (not starting with . or -)`);
  if (new Set(names).size !== names.length) throw new KeyholdError('KH_SECRET_INVALID', 'a name is used both as a data key and a file name');
  let total = 0;
  for (const v of Object.values(data)) {
    const n = bytesOf(v);
    if (n > MAX_FILE_BYTES) throw new KeyholdError('KH_SECRET_TOO_LARGE', `a data value is larger than ${MAX_FILE_BYTES} bytes`);
    total += n;
  }
  for (const f of Object.values(files)) {
    if (f.length > MAX_FILE_BYTES) throw new KeyholdError('KH_SECRET_TOO_LARGE', `a file is larger than ${MAX_FILE_BYTES} bytes (1 MiB)`);
    total += f.length;
  }
  if (total > MAX_DOCUMENT_BYTES) throw new KeyholdError('KH_SECRET_TOO_LARGE', `a secret version holds at most ${MAX_DOCUMENT_BYTES} bytes of values and files`);
}

/** @throws KeyholdError KH_SECRET_INVALID */
export function checkCustomMetadata(meta: Readonly<Record<string, string>>): void {
  const entries = Object.entries(meta);
  if (entries.length > MAX_CUSTOM_METADATA) throw new KeyholdError('KH_SECRET_INVALID', `customMetadata holds at most ${MAX_CUSTOM_METADATA} pairs`);
  for (const [k, v] of entries) {
    if (k.length === 0 || bytesOf(k) > MAX_CUSTOM_KEY_BYTES || bytesOf(v) > MAX_CUSTOM_VALUE_BYTES)
      throw new KeyholdError('KH_SECRET_INVALID', `customMetadata keys are 1-${MAX_CUSTOM_KEY_BYTES} bytes, values at most ${MAX_CUSTOM_VALUE_BYTES} bytes`);
  }
}

/** @throws KeyholdError KH_SECRET_INVALID */
export function checkSettings(s: { maxVersions?: number | undefined; deleteVersionAfterSeconds?: number | undefined }): void {
  if (s.maxVersions !== undefined && (!Number.isInteger(s.maxVersions) || s.maxVersions < 1 || s.maxVersions > MAX_MAX_VERSIONS))
    throw new KeyholdError('KH_SECRET_INVALID', `maxVersions must be 1-${MAX_MAX_VERSIONS}`);
  if (s.deleteVersionAfterSeconds !== undefined && (!Number.isInteger(s.deleteVersionAfterSeconds) || s.deleteVersionAfterSeconds < 0 || s.deleteVersionAfterSeconds > MAX_DELETE_AFTER_SECONDS))
    throw new KeyholdError('KH_SECRET_INVALID', `deleteVersionAfterSeconds must be 0 (never) to ${MAX_DELETE_AFTER_SECONDS}`);
}
