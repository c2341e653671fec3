/**
 * Vault transit encrypt, decrypt, rewrap and datakey over the keys layer's
 * operations (the same calls /v1/keys/:name/<op> makes, HSM keys included).
 * Ciphertexts cross this API as vault:v<N>:..., plaintexts as base64.
 * Keys with a release policy release nothing here: Vault's API has no
 * recipient field, so their decrypt and plaintext data keys are refused.
 */
import { Type, type TProperties } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { decrypt, encrypt, rewrap } from '../../../keys/operations/encrypt.js';
import { dataKey } from '../../../keys/operations/datakey.js';
import { hsmDecrypt, hsmEncrypt, hsmRewrap } from '../../../keys/hsm/encrypt.js';
import { hsmDataKey } from '../../../keys/hsm/datakey.js';
import type { RecipientVerifier } from '../../../keys/release/recipient.js';
import { deliverAs, releaseGate } from '../../v1/recipient-fields.js';
import { fromBase64Strict } from '../../../crypto/bytes.js';
import { runItems } from './batch.js';
import { MAX_BATCH_ITEMS } from '../../v1/operation-route.js';
import { itemBodyLimit } from '../../v1/inputs.js';
import { fromVault, toVault } from './vault-ciphertext.js';
import { badRequest, envelope, vaultResponses } from './vault-shape.js';
import { NameParams } from './keys-routes.js';

export interface TransitLimits {
  /** Largest plaintext/input per item, in bytes (limits.maxPlaintextBytes). */
  maxPlaintextBytes: number;
}

export const config = { auth: 'token' } as const;
export const tags = ['vault-transit'];
/** A batch of up to MAX_BATCH_ITEMS items travels in one body, no larger than a single item's (inputs.ts). */
export const batchBodyLimit = itemBodyLimit;

/** @throws TransitError 400 naming the field when it is not standard base64 */
export function base64Field(field: string, value: string, max: number): Uint8Array {
  const bytes = fromBase64Strict(value);
  if (bytes === undefined) throw badRequest(`failed to base64-decode ${field}`, 'KH_INPUT_INVALID');
  if (bytes.length > max) throw badRequest(`${field} is larger than ${max} bytes`, 'KH_INPUT_TOO_LARGE');
  return bytes;
}

/** Derived (context) and convergent (nonce) keys do not exist in Keyhold: say so instead of ignoring the field. */
export function refuseDerivation(item: { context?: string | undefined; nonce?: string | undefined }): void {
  if (item.context !== undefined && item.context !== '') throw badRequest('context is not supported: Keyhold has no derived transit keys', 'KH_KEY_OPTION_UNSUPPORTED');
  if (item.nonce !== undefined && item.nonce !== '') throw badRequest('nonce is not supported: Keyhold has no convergent encryption', 'KH_KEY_OPTION_UNSUPPORTED');
}

export const Reference = Type.Optional(Type.String({ maxLength: 1024, description: 'echoed in the batch result' }));
const Derivation = { context: Type.Optional(Type.String({ maxLength: 4096 })), nonce: Type.Optional(Type.String({ maxLength: 1024 })) };

/** The body of a batch-capable route: the item's own fields plus batch_input of items. */
export function batchBody<T extends TProperties, E extends TProperties = Record<never, never>>(item: T, extra?: E) {
  const one = Type.Object({ ...item, reference: Reference }, { additionalProperties: false });
  return Type.Object(
    {
      ...item,
      ...(extra as E),
      reference: Reference,
      // maxItems in the schema: an oversized batch is refused at validation, before any item runs or is audited.
      batch_input: Type.Optional(Type.Array(one, { maxItems: MAX_BATCH_ITEMS })),
      partial_failure_response_code: Type.Optional(Type.Integer({ minimum: 200, maximum: 499 })),
    },
    { additionalProperties: false },
  );
}

/** batch_results items: every field optional (output, or error), all strings/integers/booleans. */
export function batchData<T extends TProperties>(fields: T) {
  const result = Type.Object({ ...fields, error: Type.Optional(Type.String()), reference: Type.Optional(Type.String()) }, { additionalProperties: false });
  return Type.Object({ ...fields, batch_results: Type.Optional(Type.Array(result)) }, { additionalProperties: false });
}

export const transitCryptoRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; limits: TransitLimits; recipients: RecipientVerifier }> = async (app, { keys, limits, recipients }) => {
  const max = limits.maxPlaintextBytes;
  const Text = (what: string) => Type.Optional(Type.String({ maxLength: Math.ceil(max / 3) * 4 + 64, description: what }));
  const KeyVersion = Type.Optional(Type.Integer({ minimum: 0, description: '0 = latest' }));
  const AssociatedData = Type.Optional(Type.String({ maxLength: 128 * 1024, description: 'AEAD associated data (base64)' }));
  const inHsm = (key: ManagedKey) => key.spec.kind === 'hsm';
  const version = (v: number | undefined) => (v === undefined || v === 0 ? undefined : v);
  const aad = (a: string | undefined) => (a === undefined ? undefined : base64Field('associated_data', a, 128 * 1024));
  const usable = (key: ManagedKey) => () => key.checkUsable();

  const EncryptItem = { plaintext: Text('base64'), ...Derivation, key_version: KeyVersion, associated_data: AssociatedData };
  app.post(
    '/encrypt/:name',
    {
      config,
      bodyLimit: batchBodyLimit(max),
      schema: {
        operationId: 'transitEncrypt',
        tags,
        summary: 'Encrypt base64 plaintext (or batch_input); ciphertext vault:v<N>:...',
        params: NameParams,
        // type only matters to Vault's upsert (encrypting with a missing key creates it), which Keyhold does not do.
        body: batchBody(EncryptItem, { type: Type.Optional(Type.String({ maxLength: 64 })) }),
        response: vaultResponses(batchData({ ciphertext: Type.Optional(Type.String()), key_version: Type.Optional(Type.Integer()) })),
      },
    },
    async (request, reply) => {
      const key = await keys.get(request.params.name);
      return runItems(request, reply, request.body, async (item) => {
        refuseDerivation(item);
        if (item.plaintext === undefined) throw badRequest('missing plaintext to encrypt', 'KH_BAD_REQUEST');
        const input = { plaintext: base64Field('plaintext', item.plaintext, max), associatedData: aad(item.associated_data), version: version(item.key_version) };
        const r = inHsm(key) ? await hsmEncrypt(keys.hsm, key, input) : encrypt(key, input);
        return { ciphertext: toVault(r.ciphertext), key_version: r.version };
      }, usable(key));
    },
  );

  const DecryptItem = { ciphertext: Text('vault:v<N>:...'), ...Derivation, associated_data: AssociatedData };
  app.post(
    '/decrypt/:name',
    {
      config,
      bodyLimit: batchBodyLimit(max),
      schema: {
        operationId: 'transitDecrypt',
        tags,
        summary: 'Decrypt a vault:v<N>: ciphertext (or batch_input) to base64 plaintext',
        params: NameParams,
        body: batchBody(DecryptItem),
        response: vaultResponses(batchData({ plaintext: Type.Optional(Type.String()) })),
      },
    },
    async (request, reply) => {
      const key = await keys.get(request.params.name);
      return runItems(request, reply, request.body, async (item) => {
        refuseDerivation(item);
        if (item.ciphertext === undefined) throw badRequest('missing ciphertext to decrypt', 'KH_BAD_REQUEST');
        // Checked before decrypting: a key with a release policy hands plaintext only to attested recipients (/v1).
        const gate = releaseGate(recipients, key.record.releasePolicy, undefined);
        const input = { ciphertext: fromVault(item.ciphertext), associatedData: aad(item.associated_data) };
        const { plaintext } = inHsm(key) ? await hsmDecrypt(keys.hsm, key, input) : decrypt(key, input);
        return deliverAs(gate, plaintext, 'plaintext');
      }, usable(key));
    },
  );

  const RewrapItem = { ciphertext: Text('vault:v<N>:...'), ...Derivation, key_version: KeyVersion, associated_data: AssociatedData };
  app.post(
    '/rewrap/:name',
    {
      config,
      bodyLimit: batchBodyLimit(max),
      schema: {
        operationId: 'transitRewrap',
        tags,
        summary: 'Re-encrypt a ciphertext under the current (or key_version) version without revealing it',
        params: NameParams,
        body: batchBody(RewrapItem),
        response: vaultResponses(batchData({ ciphertext: Type.Optional(Type.String()), key_version: Type.Optional(Type.Integer()) })),
      },
    },
    async (request, reply) => {
      const key = await keys.get(request.params.name);
      return runItems(request, reply, request.body, async (item) => {
        refuseDerivation(item);
        if (item.ciphertext === undefined) throw badRequest('missing ciphertext to rewrap', 'KH_BAD_REQUEST');
        const input = { ciphertext: fromVault(item.ciphertext), associatedData: aad(item.associated_data), version: version(item.key_version) };
        const r = inHsm(key) ? await hsmRewrap(keys.hsm, key, input) : rewrap(key, input);
        return { ciphertext: toVault(r.ciphertext), key_version: r.version };
      }, usable(key));
    },
  );

  app.post(
    '/datakey/:type/:name',
    {
      config,
      schema: {
        operationId: 'transitDataKey',
        tags,
        summary: 'A fresh data key wrapped under the key; type plaintext also returns it in base64',
        params: Type.Object({ type: Type.Union([Type.Literal('plaintext'), Type.Literal('wrapped')]), name: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
        body: Type.Object(
          { bits: Type.Optional(Type.Union([Type.Literal(128), Type.Literal(256), Type.Literal(512)])), ...Derivation, associated_data: AssociatedData },
          { additionalProperties: false },
        ),
        response: vaultResponses(Type.Object({ ciphertext: Type.String(), plaintext: Type.Optional(Type.String()), key_version: Type.Integer() }, { additionalProperties: false })),
      },
    },
    async (request) => {
      refuseDerivation(request.body);
      const key = await keys.get(request.params.name);
      const includePlaintext = request.params.type === 'plaintext';
      const gate = includePlaintext ? releaseGate(recipients, key.record.releasePolicy, undefined) : undefined;
      const input = { bits: request.body.bits ?? 256, includePlaintext, associatedData: aad(request.body.associated_data) };
      const r = inHsm(key) ? await hsmDataKey(keys.hsm, key, input) : dataKey(key, input);
      const out = { ciphertext: toVault(r.ciphertext), key_version: r.version };
      if (r.plaintext === undefined || gate === undefined) return envelope(request, out);
      return envelope(request, { ...out, ...(await deliverAs(gate, r.plaintext, 'plaintext')) });
    },
  );
};
