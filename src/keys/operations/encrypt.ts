/**
 * encrypt / decrypt / rewrap. AEAD keys: random nonce, output
 * keyhold:v<n>:base64(nonce || ciphertext || tag). RSA keys: RSA-OAEP with
 * SHA-256 (no associated data). Every decryption failure is KH_DECRYPT_FAILED
 * with the fixed message "decryption failed".
 */
import { KeyholdError } from '../../errors.js';
import { aeadDecrypt, aeadEncrypt } from '../../crypto/aead/aead.js';
import { rsaOaepDecrypt, rsaOaepEncrypt, rsaOaepMaxPlaintext } from '../../crypto/signature/rsa.js';
import type { KeyObject } from 'node:crypto';
import { decodeVersioned, encodeVersioned } from '../ciphertext.js';
import type { ManagedKey } from '../managed-key.js';
import { associatedData, type EncryptionContext } from './associated-data.js';

export interface EncryptInput {
  plaintext: Uint8Array;
  associatedData?: Uint8Array | undefined;
  context?: EncryptionContext | undefined;
  /** Encrypt under this version instead of the current one (>= minEncryptionVersion). */
  version?: number | undefined;
}

export interface DecryptInput {
  ciphertext: string;
  associatedData?: Uint8Array | undefined;
  context?: EncryptionContext | undefined;
}

const RSA_OAEP_HASH = 'sha256';

function noAadForRsa(input: { associatedData?: Uint8Array | undefined; context?: EncryptionContext | undefined }): void {
  if (input.associatedData !== undefined || (input.context !== undefined && Object.keys(input.context).length > 0))
    throw new KeyholdError('KH_KEY_OPTION_UNSUPPORTED', 'RSA-OAEP takes no associated data or encryption context');
}

export function encrypt(key: ManagedKey, input: EncryptInput): { ciphertext: string; version: number } {
  key.checkUsable();
  const version = key.encryptionVersion(input.version);
  const spec = key.spec;
  if (spec.kind === 'aead') {
    const { secret } = key.handles(version);
    const sealed = aeadEncrypt(spec.aead, secret!, input.plaintext, associatedData(input.associatedData, input.context));
    return { ciphertext: encodeVersioned(version, sealed), version };
  }
  if (spec.kind === 'signature' && spec.rsa) {
    noAadForRsa(input);
    const pub = key.handles(version).publicKey as KeyObject;
    if (input.plaintext.length > rsaOaepMaxPlaintext(pub, RSA_OAEP_HASH))
      throw new KeyholdError('KH_INPUT_TOO_LARGE', `RSA-OAEP on this key takes at most ${rsaOaepMaxPlaintext(pub, RSA_OAEP_HASH)} bytes; use a data key`);
    return { ciphertext: encodeVersioned(version, rsaOaepEncrypt(pub, input.plaintext, RSA_OAEP_HASH)), version };
  }
  throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot encrypt`);
}

export function decrypt(key: ManagedKey, input: DecryptInput): { plaintext: Uint8Array; version: number } {
  key.checkUsable();
  const spec = key.spec;
  if (spec.kind !== 'aead' && !(spec.kind === 'signature' && spec.rsa)) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${key.record.type} keys cannot decrypt`);
  const { version, bytes } = decodeVersioned(input.ciphertext, 'KH_CIPHERTEXT_MALFORMED');
  key.checkDecryptionVersion(version);
  const handles = key.handles(version);
  let plaintext: Uint8Array | undefined;
  if (spec.kind === 'aead') {
    plaintext = aeadDecrypt(spec.aead, handles.secret!, bytes, associatedData(input.associatedData, input.context));
  } else {
    noAadForRsa(input);
    if (handles.privateKey === undefined) throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', 'a public-only key cannot decrypt');
    plaintext = rsaOaepDecrypt(handles.privateKey as KeyObject, bytes, RSA_OAEP_HASH);
  }
  if (plaintext === undefined) throw new KeyholdError('KH_DECRYPT_FAILED');
  return { plaintext, version };
}

/** Decrypts and re-encrypts under the current version; the plaintext never leaves this function. */
export function rewrap(key: ManagedKey, input: DecryptInput & { version?: number | undefined }): { ciphertext: string; version: number } {
  const { plaintext } = decrypt(key, input);
  try {
    return encrypt(key, { plaintext, associatedData: input.associatedData, context: input.context, version: input.version });
  } finally {
    plaintext.fill(0);
  }
}
