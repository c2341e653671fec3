/**
 * Hybrid encryption to an RSA public key, for recipients whose attestation
 * document carries an RSA key (as AWS KMS's Recipient does with
 * RSAES_OAEP_SHA_256): a fresh 256-bit content key is wrapped with
 * RSA-OAEP-SHA-256 and the data sealed with AES-256-GCM under it.
 *
 * Layout: u16 (big-endian) length of the wrapped key || wrapped key ||
 *         nonce (12) || ciphertext || tag (16); AAD = `info`.
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { aesGcmDecrypt, aesGcmEncrypt } from '../aes-gcm.js';

const CEK_BYTES = 32;
const NONCE_BYTES = 12;

function oaep(key: KeyObject) {
  return { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
}

export function rsaOaepSeal(publicKey: KeyObject, plaintext: Uint8Array, info: Uint8Array): Uint8Array {
  const cek = randomBytes(CEK_BYTES);
  try {
    const wrapped = publicEncrypt(oaep(publicKey), cek);
    const sealed = aesGcmEncrypt(cek, plaintext, info);
    const head = Buffer.alloc(2);
    head.writeUInt16BE(wrapped.length);
    return new Uint8Array(Buffer.concat([head, wrapped, sealed]));
  } finally {
    cek.fill(0);
  }
}

/** The recipient's side (workloads, tests). Returns undefined when it does not open. */
export function rsaOaepOpen(privateKey: KeyObject | string, sealed: Uint8Array, info: Uint8Array): Uint8Array | undefined {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (sealed.length < 2) return undefined;
  const length = Buffer.from(sealed.buffer, sealed.byteOffset, 2).readUInt16BE(0);
  if (sealed.length < 2 + length + NONCE_BYTES + 16) return undefined;
  let cek: Buffer;
  try {
    cek = privateDecrypt(oaep(key), sealed.subarray(2, 2 + length));
  } catch {
    return undefined;
  }
  try {
    return aesGcmDecrypt(cek, sealed.subarray(2 + length), info);
  } finally {
    cek.fill(0);
  }
}

/** Parses an RSA SPKI (DER) public key of 2048-4096 bits; undefined for anything else. */
export function rsaRecipientKey(der: Uint8Array): KeyObject | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return key.asymmetricKeyType === 'rsa' && bits >= 2048 && bits <= 4096 ? key : undefined;
  } catch {
    return undefined;
  }
}
