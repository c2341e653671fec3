/**
 * /v1/keys/:name/<operation>: the cryptographic operations, each with a batch
 * form. HSM-backed keys (spec kind 'hsm') run through src/keys/hsm/, the same
 * inputs and outputs on the wire.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { KeyManager } from '../../keys/key-manager.js';
import { decrypt, encrypt, rewrap } from '../../keys/operations/encrypt.js';
import { dataKey, DATA_KEY_BITS } from '../../keys/operations/datakey.js';
import { signMessage, verifyMessage } from '../../keys/operations/sign.js';
import { computeHmac, verifyHmac } from '../../keys/operations/hmac.js';
import { publicKey } from '../../keys/operations/public-key.js';
import { deriveSharedSecret } from '../../keys/operations/agreement.js';
import { decapsulate, encapsulate } from '../../keys/operations/kem.js';
import type { ManagedKey } from '../../keys/managed-key.js';
import { hsmDecrypt, hsmEncrypt, hsmRewrap } from '../../keys/hsm/encrypt.js';
import { hsmDataKey } from '../../keys/hsm/datakey.js';
import { hsmSign, hsmVerify } from '../../keys/hsm/sign.js';
import { toBase64 } from '../../crypto/bytes.js';
import { responses } from '../schemas.js';
import { KeyNameParams } from './key-schemas.js';
import { Base64, b64, checkSize, ContextMap, itemBodyLimit, optionalB64 } from './inputs.js';
import { registerOperation } from './operation-route.js';
import { deliverAs, RecipientOutputFields, RecipientSchema, releaseGate } from './recipient-fields.js';
import type { RecipientVerifier } from '../../keys/release/recipient.js';

export interface OperationLimits {
  /** Largest plaintext/message per item, in bytes. */
  maxPlaintextBytes: number;
}

const MAX_AAD_BYTES = 64 * 1024;
const Version = Type.Integer({ minimum: 1, description: 'Use this key version instead of the current one' });
const Ciphertext = (max: number) => Type.String({ maxLength: Math.ceil(max / 3) * 4 + 64, description: 'keyhold:v<version>:<base64>' });
const Hash = Type.Union([Type.Literal('sha256'), Type.Literal('sha384'), Type.Literal('sha512'), Type.Literal('sha1')], { description: 'Digest (ECDSA, RSA); sha1 only on legacy keys' });
const SignOptions = {
  hash: Type.Optional(Hash),
  prehashed: Type.Optional(Type.Boolean({ description: 'input is already a digest (ECDSA, RSA PKCS#1 v1.5)' })),
  signatureAlgorithm: Type.Optional(Type.Union([Type.Literal('pss'), Type.Literal('pkcs1v15')], { description: 'RSA padding, default pss' })),
  signatureFormat: Type.Optional(Type.Union([Type.Literal('der'), Type.Literal('p1363')], { description: 'ECDSA encoding, default der' })),
};

export const keyOperationsRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; limits: OperationLimits; recipients: RecipientVerifier }> = async (app, { keys, limits, recipients }) => {
  const max = limits.maxPlaintextBytes;
  // Body limits follow from the per-item limit (inputs.ts); a batch shares one such body among its items.
  const bodyLimit = itemBodyLimit(max);
  const common = { bodyLimit, batchBodyLimit: bodyLimit };
  const aadFields = {
    associatedData: Type.Optional(Base64('associated data, authenticated but not encrypted', MAX_AAD_BYTES)),
    context: Type.Optional(ContextMap),
  };
  const aad = (item: { associatedData?: string; context?: Record<string, string> }) => ({
    associatedData: optionalB64('associatedData', item.associatedData),
    context: item.context,
  });
  const CiphertextOut = Type.Object({ ciphertext: Type.String(), version: Type.Integer() }, { additionalProperties: false });
  const inHsm = (key: ManagedKey): boolean => key.spec.kind === 'hsm';

  registerOperation(app, keys, {
    op: 'encrypt',
    operationId: 'encrypt',
    summary: 'Encrypt (AEAD keys; RSA keys use OAEP-SHA256)',
    item: Type.Object({ plaintext: Base64('plaintext', max), ...aadFields, version: Type.Optional(Version) }, { additionalProperties: false }),
    result: CiphertextOut,
    ...common,
    run: (key, item) => {
      const input = { plaintext: checkSize('plaintext', b64('plaintext', item.plaintext), max), ...aad(item), version: item.version };
      return inHsm(key) ? hsmEncrypt(keys.hsm, key, input) : encrypt(key, input);
    },
  });

  registerOperation(app, keys, {
    op: 'decrypt',
    operationId: 'decrypt',
    summary: 'Decrypt a keyhold:v<n>: ciphertext',
    item: Type.Object({ ciphertext: Ciphertext(max), ...aadFields, recipient: Type.Optional(RecipientSchema) }, { additionalProperties: false }),
    result: Type.Object({ plaintext: Type.Optional(Type.String()), ...RecipientOutputFields, version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: async (key, item) => {
      const gate = releaseGate(recipients, key.record.releasePolicy, item.recipient);
      const input = { ciphertext: item.ciphertext, ...aad(item) };
      const { plaintext, version } = inHsm(key) ? await hsmDecrypt(keys.hsm, key, input) : decrypt(key, input);
      return { ...(await deliverAs(gate, plaintext, 'plaintext')), version };
    },
  });

  registerOperation(app, keys, {
    op: 'rewrap',
    operationId: 'rewrap',
    summary: 'Re-encrypt under the current version without revealing the plaintext',
    item: Type.Object({ ciphertext: Ciphertext(max), ...aadFields, version: Type.Optional(Version) }, { additionalProperties: false }),
    result: CiphertextOut,
    ...common,
    run: (key, item) => {
      const input = { ciphertext: item.ciphertext, ...aad(item), version: item.version };
      return inHsm(key) ? hsmRewrap(keys.hsm, key, input) : rewrap(key, input);
    },
  });

  registerOperation(app, keys, {
    op: 'datakey',
    operationId: 'generateDataKey',
    summary: 'Generate a data key: wrapped, and in plaintext unless plaintext: false',
    item: Type.Object(
      {
        bits: Type.Optional(Type.Union(DATA_KEY_BITS.map((b) => Type.Literal(b)), { default: 256 })),
        plaintext: Type.Optional(Type.Boolean({ description: 'Also return the plaintext key (default true)' })),
        ...aadFields,
        recipient: Type.Optional(RecipientSchema),
      },
      { additionalProperties: false },
    ),
    result: Type.Object({ ciphertext: Type.String(), plaintext: Type.Optional(Type.String()), ...RecipientOutputFields, version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: async (key, item) => {
      const includePlaintext = item.plaintext ?? true;
      // Only a data key that is handed out in plaintext (or to a recipient) is a release.
      const gate = includePlaintext ? releaseGate(recipients, key.record.releasePolicy, item.recipient) : undefined;
      const input = { bits: item.bits ?? 256, includePlaintext, ...aad(item) };
      const r = inHsm(key) ? await hsmDataKey(keys.hsm, key, input) : dataKey(key, input);
      if (r.plaintext === undefined || gate === undefined) return { ciphertext: r.ciphertext, version: r.version };
      return { ciphertext: r.ciphertext, version: r.version, ...(await deliverAs(gate, r.plaintext, 'plaintext')) };
    },
  });

  registerOperation(app, keys, {
    op: 'sign',
    operationId: 'sign',
    summary: 'Sign a message (or a digest with prehashed: true)',
    item: Type.Object({ input: Base64('message or digest', max), ...SignOptions, version: Type.Optional(Version) }, { additionalProperties: false }),
    result: Type.Object({ signature: Type.String(), version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: (key, item) => {
      const input = checkSize('input', b64('input', item.input), max);
      return inHsm(key) ? hsmSign(keys.hsm, key, input, item) : signMessage(key, input, item);
    },
  });

  registerOperation(app, keys, {
    op: 'verify',
    operationId: 'verify',
    summary: 'Verify a keyhold:v<n>: signature',
    item: Type.Object({ input: Base64('message or digest', max), signature: Type.String({ maxLength: 16384 }), ...SignOptions }, { additionalProperties: false }),
    result: Type.Object({ valid: Type.Boolean(), version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: (key, item) => {
      const input = checkSize('input', b64('input', item.input), max);
      return inHsm(key) ? hsmVerify(key, input, item.signature, item) : verifyMessage(key, input, item.signature, item);
    },
  });

  registerOperation(app, keys, {
    op: 'hmac',
    operationId: 'hmac',
    summary: 'Compute an HMAC',
    item: Type.Object({ input: Base64('message', max), version: Type.Optional(Version) }, { additionalProperties: false }),
    result: Type.Object({ hmac: Type.String(), version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: (key, item) => computeHmac(key, checkSize('input', b64('input', item.input), max), item.version),
  });

  registerOperation(app, keys, {
    op: 'verify-hmac',
    operationId: 'verifyHmac',
    summary: 'Verify an HMAC in constant time',
    item: Type.Object({ input: Base64('message', max), hmac: Type.String({ maxLength: 256 }) }, { additionalProperties: false }),
    result: Type.Object({ valid: Type.Boolean(), version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: (key, item) => verifyHmac(key, checkSize('input', b64('input', item.input), max), item.hmac),
  });

  registerOperation(app, keys, {
    op: 'derive',
    operationId: 'deriveSharedSecret',
    summary: 'X25519 key agreement with a peer public key: the shared secret, or an AES-256 key via HKDF-SHA-256',
    item: Type.Object(
      {
        peerPublicKey: Type.String({ maxLength: 1024, description: 'Peer X25519 public key: PEM, or base64 of SPKI DER or the raw 32 bytes' }),
        output: Type.Optional(Type.Union([Type.Literal('shared-secret'), Type.Literal('aes256-key')], { description: 'default shared-secret' })),
        salt: Type.Optional(Base64('HKDF salt', 1024)),
        info: Type.Optional(Base64('HKDF info', 1024)),
        version: Type.Optional(Version),
        recipient: Type.Optional(RecipientSchema),
      },
      { additionalProperties: false },
    ),
    result: Type.Object({ secret: Type.Optional(Type.String()), ...RecipientOutputFields, version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: async (key, item) => {
      const gate = releaseGate(recipients, key.record.releasePolicy, item.recipient);
      const peer = item.peerPublicKey.includes('-----BEGIN') ? item.peerPublicKey : b64('peerPublicKey', item.peerPublicKey);
      const r = deriveSharedSecret(key, { peerPublicKey: peer, output: item.output ?? 'shared-secret', salt: optionalB64('salt', item.salt), info: optionalB64('info', item.info), version: item.version });
      return { ...(await deliverAs(gate, r.secret, 'secret')), version: r.version };
    },
  });

  registerOperation(app, keys, {
    op: 'encapsulate',
    operationId: 'encapsulate',
    summary: 'ML-KEM: a fresh shared secret and its encapsulation',
    item: Type.Object({ version: Type.Optional(Version) }, { additionalProperties: false }),
    result: Type.Object({ ciphertext: Type.String(), sharedSecret: Type.String(), version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: (key, item) => {
      const r = encapsulate(key, item.version);
      return { ciphertext: r.ciphertext, sharedSecret: toBase64(r.sharedSecret), version: r.version };
    },
  });

  registerOperation(app, keys, {
    op: 'decapsulate',
    operationId: 'decapsulate',
    summary: 'ML-KEM: recover the shared secret from an encapsulation',
    item: Type.Object({ ciphertext: Type.String({ maxLength: 4096 }), recipient: Type.Optional(RecipientSchema) }, { additionalProperties: false }),
    result: Type.Object({ sharedSecret: Type.Optional(Type.String()), ...RecipientOutputFields, version: Type.Integer() }, { additionalProperties: false }),
    ...common,
    run: async (key, item) => {
      const gate = releaseGate(recipients, key.record.releasePolicy, item.recipient);
      const r = decapsulate(key, item.ciphertext);
      return { ...(await deliverAs(gate, r.sharedSecret, 'sharedSecret')), version: r.version };
    },
  });

  app.get(
    '/v1/keys/:name/public-key',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'getPublicKey',
        tags: ['keys'],
        summary: 'Public key of an asymmetric key (PEM SPKI, JWK, or raw base64; default pem, raw for ML-DSA/ML-KEM)',
        params: KeyNameParams,
        querystring: Type.Object(
          {
            version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$' })),
            format: Type.Optional(Type.Union([Type.Literal('pem'), Type.Literal('jwk'), Type.Literal('raw')])),
          },
          { additionalProperties: false },
        ),
        response: responses({
          200: Type.Object({ version: Type.Integer(), format: Type.String(), publicKey: Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())]) }, { additionalProperties: false }),
        }),
      },
    },
    async (req) => {
      const key = await keys.get(req.params.name);
      // Post-quantum keys have only a raw encoding, so that is their default.
      const format = req.query.format ?? (key.record.type.startsWith('ml-') ? 'raw' : 'pem');
      return { ...publicKey(key, req.query.version === undefined ? undefined : Number(req.query.version), format), format };
    },
  );
};
