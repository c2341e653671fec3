/**
 * The CiphertextBlob of symmetric KMS encryption, which carries its key so
 * Decrypt needs no KeyId (docs/compat.md "Ciphertext blobs"):
 *
 *   0x4B 0x48 ("KH") | 0x01 (format) | L (u8, 1..128) | key id (L ASCII bytes)
 *   | key version (u32 BE) | AEAD output of the keys layer (nonce || ciphertext || tag)
 *
 * The key id is the key's name (the UUID of a key created by CreateKey). The
 * AEAD output is exactly what the keys layer puts in keyhold:v<version>:<base64>,
 * whose associated data binds the EncryptionContext (keys/operations/associated-data.ts),
 * so the header is not secret and needs no protection of its own: a changed
 * key id or version selects a key that cannot authenticate the rest.
 * Asymmetric (RSA-OAEP) ciphertexts are the raw RSA output, as KMS's.
 */
import { decodeVersioned, encodeVersioned } from '../../../keys/ciphertext.js';
import { KEY_NAME_PATTERN } from '../../../keys/key-name.js';
import { KmsError } from './kms-errors.js';

const MAGIC_0 = 0x4b;
const MAGIC_1 = 0x48;
const FORMAT = 1;
const KEY_NAME = new RegExp(KEY_NAME_PATTERN);
/** As KMS: CiphertextBlob is at most 6144 bytes. */
export const MAX_CIPHERTEXT_BLOB_BYTES = 6144;

const invalid = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid.', 'KH_CIPHERTEXT_MALFORMED');

/** A symmetric blob from the keys layer's keyhold:v<n>:... ciphertext of `keyName`. */
export function encodeBlob(keyName: string, versioned: string): Uint8Array {
  const { version, bytes } = decodeVersioned(versioned, 'KH_CIPHERTEXT_MALFORMED');
  const name = new TextEncoder().encode(keyName);
  const out = new Uint8Array(4 + name.length + 4 + bytes.length);
  out.set([MAGIC_0, MAGIC_1, FORMAT, name.length], 0);
  out.set(name, 4);
  new DataView(out.buffer).setUint32(4 + name.length, version);
  out.set(bytes, 8 + name.length);
  return out;
}

/** Whether the bytes start like a symmetric blob (so a blob without a KeyId can be routed). */
export function looksLikeBlob(blob: Uint8Array): boolean {
  return blob.length > 8 && blob[0] === MAGIC_0 && blob[1] === MAGIC_1 && blob[2] === FORMAT;
}

/**
 * The key name and the keys layer's ciphertext of a symmetric blob.
 * @throws KmsError InvalidCiphertextException for anything that is not one
 */
export function decodeBlob(blob: Uint8Array): { keyName: string; versioned: string } {
  if (!looksLikeBlob(blob)) throw invalid();
  const length = blob[3]!;
  if (length === 0 || blob.length <= 8 + length) throw invalid();
  const keyName = new TextDecoder('utf-8', { fatal: false }).decode(blob.subarray(4, 4 + length));
  if (!KEY_NAME.test(keyName)) throw invalid();
  const version = new DataView(blob.buffer, blob.byteOffset, blob.length).getUint32(4 + length);
  if (version === 0 || version > 999_999_999) throw invalid();
  return { keyName, versioned: encodeVersioned(version, blob.subarray(8 + length)) };
}
