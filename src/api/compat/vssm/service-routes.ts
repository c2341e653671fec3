/**
 * VSSM's VssmService (vssm.proto): symmetric and asymmetric encrypt/decrypt,
 * sign/verify, HMAC create/verify, over the keys layer's operations on the
 * key's current version. Outputs are raw bytes as VSSM's are (no
 * keyhold:v<N>: prefix): VSSM's own ciphertexts and signatures work here,
 * and these work with VSSM's clients.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { rawDecrypt, rawEncrypt } from '../../../keys/operations/block-cipher.js';
import { rsaDecryptRaw, rsaEncryptRaw } from '../../../keys/operations/rsa-encrypt.js';
import { signMessage, verifyMessage } from '../../../keys/operations/sign.js';
import { computeHmac, verifyHmac } from '../../../keys/operations/hmac.js';
import { decodeVersioned, encodeVersioned } from '../../../keys/ciphertext.js';
import { KeyholdError } from '../../../errors.js';
import { asymmetricEncryption, hmacAlgorithm, signatureAlgorithm, symmetricAlgorithm } from './algorithms.js';
import { bytesOut, compact, type MessageShape } from './proto-json.js';
import { reply, vssmRoute } from './vssm-route.js';

const CRYPT = { input: 'bytes', keyName: 'string', algorithm: 'string' } as const satisfies MessageShape;
const SIGN = { input: 'bytes', hashed: 'bytes', keyName: 'string', algorithm: 'string' } as const satisfies MessageShape;
const VERIFY = { input: 'bytes', hashed: 'bytes', signature: 'bytes', keyName: 'string', algorithm: 'string' } as const satisfies MessageShape;
const HMAC_VERIFY = { input: 'bytes', hmac: 'bytes', keyName: 'string', algorithm: 'string' } as const satisfies MessageShape;

const Output = reply({ output: Type.String({ description: 'base64' }) });
const Valid = reply({ valid: Type.Boolean({ description: 'omitted when false (proto3 JSON)' }) });

/** The raw bytes of a keyhold:v<N>:<base64> output. */
const raw = (versioned: string): Uint8Array => decodeVersioned(versioned, 'KH_SIGNATURE_MALFORMED').bytes;

export function registerServiceRoutes(app: FastifyInstance, deps: { keys: KeyManager; maxBytes: number }): void {
  const { keys, maxBytes } = deps;
  const tooLarge = (what: string, b: Uint8Array) => {
    if (b.length > maxBytes) throw new KeyholdError('KH_INPUT_TOO_LARGE', `${what} is larger than ${maxBytes} bytes`);
    return b;
  };
  const key = (name: string): Promise<ManagedKey> => keys.get(name);
  const common = { gate: 'client', resource: 'key', maxBytes } as const;

  vssmRoute(app, {
    ...common,
    path: '/symmetric/encrypt',
    operationId: 'vssmSymmetricEncrypt',
    action: 'encrypt',
    summary: 'VSSM SymmetricEncrypt: CIPHER/MODE/PADDING (AES/GCM/NoPadding recommended; DES, 3DES, ECB on legacy keys)',
    request: CRYPT,
    response: Output,
    handler: async (_r, m) => {
      const spec = symmetricAlgorithm(m.algorithm);
      return compact({ output: bytesOut(rawEncrypt(await key(m.keyName), spec, tooLarge('input', m.input)).output) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/symmetric/decrypt',
    operationId: 'vssmSymmetricDecrypt',
    action: 'decrypt',
    summary: 'VSSM SymmetricDecrypt',
    request: CRYPT,
    response: Output,
    handler: async (_r, m) => {
      const spec = symmetricAlgorithm(m.algorithm);
      return compact({ output: bytesOut(rawDecrypt(await key(m.keyName), spec, m.input).plaintext) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/asymmetric/encrypt',
    operationId: 'vssmAsymmetricEncrypt',
    action: 'encrypt',
    summary: 'VSSM AsymmetricEncrypt: RSA-OAEP/SHA1|SHA256|SHA384|SHA512, or RSA (PKCS#1 v1.5, legacy keys)',
    request: CRYPT,
    response: Output,
    handler: async (_r, m) => {
      const scheme = asymmetricEncryption(m.algorithm);
      return compact({ output: bytesOut(rsaEncryptRaw(await key(m.keyName), scheme, m.input).output) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/asymmetric/decrypt',
    operationId: 'vssmAsymmetricDecrypt',
    action: 'decrypt',
    summary: 'VSSM AsymmetricDecrypt (RSA PKCS#1 v1.5 only where OpenSSL rejects implicitly)',
    request: CRYPT,
    response: Output,
    handler: async (_r, m) => {
      const scheme = asymmetricEncryption(m.algorithm);
      return compact({ output: bytesOut(rsaDecryptRaw(await key(m.keyName), scheme, m.input).plaintext) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/asymmetric/sign',
    operationId: 'vssmAsymmetricSign',
    action: 'sign',
    summary: 'VSSM AsymmetricSign: SHA1|256|384|512withRSA, SHA256withRSA/PSS, SHA1|256|384|512withECDSA (DER), Ed25519; `hashed` (a digest) when `input` is empty',
    request: SIGN,
    response: Output,
    handler: async (_r, m) => {
      const k = await key(m.keyName);
      const prehashed = m.input.length === 0 && m.hashed.length > 0;
      const options = signatureAlgorithm(m.algorithm, k, prehashed);
      return compact({ output: bytesOut(raw(signMessage(k, tooLarge('input', prehashed ? m.hashed : m.input), options).signature)) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/asymmetric/verify',
    operationId: 'vssmAsymmetricVerify',
    action: 'verify',
    summary: 'VSSM AsymmetricVerify: `valid` is omitted when false',
    request: VERIFY,
    response: Valid,
    handler: async (_r, m) => {
      const k = await key(m.keyName);
      const prehashed = m.input.length === 0 && m.hashed.length > 0;
      const options = signatureAlgorithm(m.algorithm, k, prehashed);
      const message = tooLarge('input', prehashed ? m.hashed : m.input);
      if (m.signature.length === 0) return {};
      const { valid } = verifyMessage(k, message, encodeVersioned(k.record.latestVersion, m.signature), options);
      return valid ? { valid } : {};
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/hmac/create',
    operationId: 'vssmHmacCreate',
    action: 'hmac',
    summary: 'VSSM HmacCreate: SHA1 (legacy keys), SHA256, SHA384, SHA512',
    request: CRYPT,
    response: Output,
    handler: async (_r, m) => {
      const hash = hmacAlgorithm(m.algorithm);
      return compact({ output: bytesOut(raw(computeHmac(await key(m.keyName), tooLarge('input', m.input), undefined, { hash }).hmac)) });
    },
  });

  vssmRoute(app, {
    ...common,
    path: '/hmac/verify',
    operationId: 'vssmHmacVerify',
    action: 'verifyHmac',
    summary: 'VSSM HmacVerify (constant-time compare): `valid` is omitted when false',
    request: HMAC_VERIFY,
    response: Valid,
    handler: async (_r, m) => {
      const hash = hmacAlgorithm(m.algorithm);
      const k = await key(m.keyName);
      const input = tooLarge('input', m.input);
      if (m.hmac.length === 0) return {};
      const { valid } = verifyHmac(k, input, encodeVersioned(k.record.latestVersion, m.hmac), { hash });
      return valid ? { valid } : {};
    },
  });
}
