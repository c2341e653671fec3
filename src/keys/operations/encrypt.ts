/**
 * encrypt / decrypt / rewrap. AEAD keys: random nonce, output
 * keyhold:v<n>:base64(nonce || ciphertext || tag). RSA keys: RSA-OAEP with
 * SHA-256 (no associated data), or SHA-1 when asked (AWS KMS RSAES_OAEP_SHA_1:
 * OAEP's security does not rest on the collision resistance SHA-1 lost, and
 * SP 800-131A rev. 2 still allows SHA-1 outside signatures). Keys created for
 * another usage (key-usage.ts) are refused. Every decryption failure is
 * KH_DECRYPT_FAILED with the fixed message "decryption failed".
 */
import { KeyholdError } from '../../errors.js';
import { aeadDecrypt, aeadEncrypt } from '../../crypto/aead/aead.js';
import { rsaOaepDecrypt, rsaOaepEncrypt, rsaOaepMaxPlaintext } from '../../crypto/signature/rsa.js';
import type { KeyObject } from 'node:crypto';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import { associatedData, type EncryptionContext } from './associated-data.js';
import { checkUsage } from '../key-usage.js';

/** The OAEP digest (and MGF1 digest) of RSA keys; AEAD keys take no such option. */
export type OaepHash = 'sha1' | 'sha256';

export interface EncryptInput {
  plaintext: Uint8Array;
  associatedData?: Uint8Array | undefined;
  context?: EncryptionContext | undefined;
  /** Encrypt under this version instead of the current one (>= minEncryptionVersion). */
  version?: number | undefined;
  /** RSA keys only; default sha256. */
  oaepHash?: OaepHash | undefined;
}

export interface DecryptInput {
  ciphertext: string;
  associatedData?: Uint8Array | undefined;
  context?: EncryptionContext | undefined;
  /** RSA keys only; default sha256. */
  oaepHash?: OaepHash | undefined;
}

const RSA_OAEP_HASH: OaepHash = 'sha256';

function noOaepHashForAead(input: { oaepHash?: OaepHash | undefined }): void {
  if (input.oaepHash !== undefined) throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'an OAEP hash is an option of RSA keys only');
}

function noAadForRsa(input: { associatedData?: Uint8Array | undefined; context?: EncryptionContext | undefined }): void {
  if (input.associatedData !== undefined || (input.context !== undefined && Object.keys(input.context).length > 0))
    throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'RSA-OAEP takes no associated data or encryption context');
}

export function encrypt(key: ManagedKey, input: EncryptInput): { ciphertext: string; version: number } {
  key.checkUsable();
  const version = key.encryptionVersion(input.version);
  const spec = key.spec;
  checkUsage(key.record, 'encrypt-decrypt');
  if (spec.kind === 'aead') {
    noOaepHashForAead(input);
    const { secret } = key.handles(version);
    const sealed = aeadEncrypt(spec.aead, secret!, input.plaintext, associatedData(input.associatedData, input.context));
    return { ciphertext: encodeVersioned(version, sealed), version };
  }
  if (spec.kind === 'signature' && spec.rsa) {
    noAadForRsa(input);
    const hash = input.oaepHash ?? RSA_OAEP_HASH;
    const pub = key.handles(version).publicKey as KeyObject;
    if (input.plaintext.length > rsaOaepMaxPlaintext(pub, hash))
      throw new KeyholdError('KH_INPUT_TOO_LARGE', `RSA-OAEP on this key takes at most ${rsaOaepMaxPlaintext(pub, hash)} bytes; use a data key`);
    return { ciphertext: encodeVersioned(version, rsaOaepEncrypt(pub, input.plaintext, hash)), version };
  }
  throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot encrypt`);
}

export function decrypt(key: ManagedKey, input: DecryptInput): { plaintext: Uint8Array; version: number } {
  key.checkUsable();
  const spec = key.spec;
  if (spec.kind !== 'aead' && !(spec.kind === 'signature' && spec.rsa)) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot decrypt`);
  checkUsage(key.record, 'encrypt-decrypt');
  if (spec.kind === 'aead') noOaepHashForAead(input);
  const { version, bytes } = decodeVersioned(input.ciphertext, 'KH_CIPHERTEXT_MALFORMED');
  key.checkDecryptionVersion(version);
  const handles = key.handles(version);
  let plaintext: Uint8Array | undefined;
  if (spec.kind === 'aead') {
    plaintext = aeadDecrypt(spec.aead, handles.secret!, bytes, associatedData(input.associatedData, input.context));
  } else {
    noAadForRsa(input);
    if (handles.privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot decrypt');
    plaintext = rsaOaepDecrypt(handles.privateKey as KeyObject, bytes, input.oaepHash ?? RSA_OAEP_HASH);
  }
  if (plaintext === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  return { plaintext, version };
}

/** Decrypts and re-encrypts under the current version; the plaintext never leaves this function. */
export function rewrap(key: ManagedKey, input: DecryptInput & { version?: number | undefined }): { ciphertext: string; version: number } {
  const { plaintext } = decrypt(key, input);
  try {
    return encrypt(key, { plaintext, associatedData: input.associatedData, context: input.context, version: input.version, oaepHash: input.oaepHash });
  } finally {
    plaintext.fill(0);
  }
}
