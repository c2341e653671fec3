/**
 * Sealed listing markers (review of issue 15, finding 1). A listing that
 * stops at its scan bound resumes after the last item it scanned, which may be
 * one the caller cannot read: that name leaves only AES-256-GCM-sealed, as
 * "~" + base64url(nonce | ciphertext | tag), with the listing's scope as AAD
 * so a marker of one listing is not accepted by another.
 *
 * The key is random per process and never stored: a marker is good on the
 * node that issued it until it restarts, which is enough for a client paging
 * through a listing; an older one is refused (KH_LIST_MARKER_INVALID) and the
 * client starts the listing again. "~" is outside every name alphabet, so a
 * marker is never mistaken for a name.
 */
import { randomBytes } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import { aesGcmDecrypt, aesGcmEncrypt } from '../crypto/aes-gcm.js';
import { toBase64Url, utf8 } from '../crypto/bytes.js';

const KEY = new Uint8Array(randomBytes(32));
const PREFIX = '~';
/** A sealed name of up to 320 bytes (KMS aliases) in base64url, with nonce and tag. */
export const SEALED_MARKER_PATTERN = '~[A-Za-z0-9_-]{38,480}';

function aad(scope: string): Uint8Array {
  return utf8(`keyhold-list-marker-v1\0${scope}`);
}

/** Whether a caller's marker is a sealed one (else it is a name). */
export function isSealedMarker(marker: string): boolean {
  return marker.startsWith(PREFIX);
}

/** Seals `name` for a listing of `scope`. */
export function sealMarker(scope: string, name: string): string {
  return PREFIX + toBase64Url(aesGcmEncrypt(KEY, utf8(name), aad(scope)));
}

/**
 * The name inside a sealed marker.
 * @throws KeyholdError KH_LIST_MARKER_INVALID for a marker this process did not issue for this listing
 */
export function openMarker(scope: string, marker: string): string {
  const body = marker.slice(PREFIX.length);
  const plain = /^[A-Za-z0-9_-]+$/.test(body) ? aesGcmDecrypt(KEY, new Uint8Array(Buffer.from(body, 'base64url')), aad(scope)) : undefined;
  if (plain === undefined) throw new KeyholdError('KH_LIST_MARKER_INVALID');
  return new TextDecoder().decode(plain);
}
