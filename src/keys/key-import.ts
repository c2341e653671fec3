/**
 * Normalises imported key material into a stored key version, refusing
 * anything malformed (KH_INPUT_INVALID). Accepted inputs:
 * - AEAD: the raw key, exactly the type's length.
 * - DES / Triple DES (legacy types): the raw 8- or 24-byte key, legacy: true only.
 * - Raw AES (VSSM's symmetric keys): the raw 16-, 24- or 32-byte key.
 * - HMAC: a raw key of 16..1024 bytes (shorter only with legacy: true, for migration).
 * - X25519: 32 raw bytes or PKCS#8; public key as SPKI DER or 32 raw bytes.
 * - ML-KEM: the 64-byte seed (d || z); public key raw.
 * - Signature types: private material in the scheme's import forms (raw or
 *   PKCS#8, see crypto/signature/*), or a public key only (SPKI DER; raw for ML-DSA),
 *   which makes a verify-only key.
 */
import { KeyholdError } from '../errors.js';
import { toBase64 } from '../crypto/bytes.js';
import { specOf, type KeyType } from './key-types.js';
import type { KeyVersionRecord } from './key-record.js';
import { createPublicKey } from 'node:crypto';
import { x25519Peer, x25519Private } from '../crypto/agreement/x25519.js';
import { loadPkcs8OfType } from '../crypto/signature/ed25519.js';

export interface ImportMaterial {
  secret?: Uint8Array | undefined;
  publicKey?: Uint8Array | undefined;
}

const bad = (why: string) => new KeyholdError('KH_INPUT_INVALID', `imported key material: ${why}`);

export function importVersion(type: KeyType, material: ImportMaterial, version: number, now: string, legacy: boolean): { record: KeyVersionRecord; publicOnly: boolean } {
  const made = importMaterial(type, material, version, now, legacy);
  // Recorded per version: rotation of an imported key generates material that is Keyhold's own (block-cipher.ts).
  return { record: { ...made.record, imported: true }, publicOnly: made.publicOnly };
}

function importMaterial(type: KeyType, material: ImportMaterial, version: number, now: string, legacy: boolean): { record: KeyVersionRecord; publicOnly: boolean } {
  const spec = specOf(type);
  if (spec.kind === 'hsm') throw new KeyholdError('KH_KEY_OPERATION_UNSUPPORTED', `${type} keys are generated in the HSM and cannot be imported`);
  const { secret, publicKey } = material;
  if ((secret === undefined) === (publicKey === undefined)) throw bad('give exactly one of a secret or a public key');
  if (spec.kind === 'aead') {
    if (secret === undefined || secret.length !== spec.keyBytes) throw bad(`${type} needs a ${spec.keyBytes}-byte secret key`);
    return { record: { version, createdAt: now, secret: toBase64(secret) }, publicOnly: false };
  }
  if (spec.kind === 'block') {
    // Raw DES / Triple DES keys exist only to migrate legacy data; raw AES keys are VSSM's ordinary symmetric keys.
    if (spec.cipher !== 'aes' && !legacy) throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', `${type} keys need legacy: true`);
    if (secret === undefined || secret.length !== spec.keyBytes) throw bad(`${type} needs a ${spec.keyBytes}-byte secret key`);
    return { record: { version, createdAt: now, secret: toBase64(secret) }, publicOnly: false };
  }
  if (spec.kind === 'hmac') {
    if (secret === undefined || secret.length === 0 || secret.length > 1024) throw bad('HMAC keys are 1 to 1024 bytes');
    if (secret.length < 16 && !legacy) throw new KeyholdError('KH_KEY_LEGACY_REQUIRED', 'HMAC keys shorter than 16 bytes need legacy: true');
    return { record: { version, createdAt: now, secret: toBase64(secret) }, publicOnly: false };
  }
  if (spec.kind === 'agreement') {
    if (publicKey !== undefined) {
      const spki = new Uint8Array(x25519Peer(publicKey).export({ format: 'der', type: 'spki' }));
      return { record: { version, createdAt: now, publicKey: toBase64(spki) }, publicOnly: true };
    }
    let raw = secret!;
    if (raw.length !== 32) {
      try {
        raw = new Uint8Array(loadPkcs8OfType(raw, 'x25519').export({ format: 'der', type: 'pkcs8' })).slice(-32);
      } catch (e) {
        if (e instanceof KeyholdError) throw e;
        throw bad('X25519 private keys are 32 raw bytes or PKCS#8');
      }
    }
    const spki = new Uint8Array(createPublicKey(x25519Private(raw)).export({ format: 'der', type: 'spki' }));
    return { record: { version, createdAt: now, secret: toBase64(raw), publicKey: toBase64(spki) }, publicOnly: false };
  }
  if (spec.kind === 'kem') {
    if (publicKey !== undefined) {
      if (publicKey.length !== spec.kem.publicKeyBytes) throw bad(`${type} public keys are ${spec.kem.publicKeyBytes} bytes`);
      return { record: { version, createdAt: now, publicKey: toBase64(publicKey) }, publicOnly: true };
    }
    if (secret!.length !== 64) throw bad(`${type} keys are imported as their 64-byte seed (d || z)`);
    return { record: { version, createdAt: now, secret: toBase64(secret!), publicKey: toBase64(spec.kem.expand(secret!).publicKey) }, publicOnly: false };
  }
  try {
    if (publicKey !== undefined) return { record: { version, createdAt: now, publicKey: toBase64(spec.scheme.importPublic(publicKey)) }, publicOnly: true };
    const pair = spec.scheme.importSecret(secret!);
    return { record: { version, createdAt: now, secret: toBase64(pair.secret), publicKey: toBase64(pair.publicKey) }, publicOnly: false };
  } catch (e) {
    if (e instanceof KeyholdError) throw e;
    throw bad(`it is not a ${type} key`);
  }
}
