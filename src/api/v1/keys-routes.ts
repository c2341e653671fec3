/**
 * /v1/keys: key lifecycle (create, list, read, configure, rotate, trim,
 * enable/disable, deletion). The listing shows only keys the caller may
 * readKey; lifting or replacing a release policy is asked as
 * changeKeyReleasePolicy on top of updateKey (release-policy-change.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { KeyManager } from '../../keys/key-manager.js';
import { MAX_DELETION_DAYS, MIN_DELETION_DAYS } from '../../keys/key-manager.js';
import type { ManagedKey } from '../../keys/managed-key.js';
import { KEY_NAME_PATTERN } from '../../keys/key-name.js';
import { responses } from '../schemas.js';
import type { WrappingKey } from '../../keys/wrapping-key.js';
import { KeyholdError } from '../../errors.js';
import { mayDo, permittedPage, type PolicyAsker } from '../policy-ask.js';
import { isSealedMarker, openMarker, sealMarker, SEALED_MARKER_PATTERN } from '../list-marker.js';
import { releasePolicyChangeNeedsAction } from '../release-policy-change.js';
import { b64 } from './inputs.js';
import { CreateKeyBody, KeyMetadata, KeyNameParams, UpdateKeyBody } from './key-schemas.js';

/** Metadata only: the response schema has no field that could carry key material. */
export function metadataOf(key: ManagedKey) {
  const r = key.record;
  return {
    name: r.name,
    type: r.type,
    description: r.description,
    tags: r.tags,
    state: r.state,
    ...(r.deletionDate !== undefined ? { deletionDate: r.deletionDate } : {}),
    exportable: r.exportable,
    legacy: r.legacy,
    sealWrap: r.sealWrap,
    publicOnly: r.publicOnly,
    latestVersion: r.latestVersion,
    minDecryptionVersion: r.minDecryptionVersion,
    minEncryptionVersion: r.minEncryptionVersion,
    minAvailableVersion: r.minAvailableVersion,
    autoRotatePeriodSeconds: r.autoRotatePeriodSeconds,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    lastRotatedAt: r.lastRotatedAt,
    ...(r.releasePolicy !== undefined && { releasePolicy: r.releasePolicy }),
    versions: r.versions.map((v) => ({ version: v.version, createdAt: v.createdAt })),
  };
}

/** Scope of this listing's sealed markers. */
const LIST_SCOPE = 'v1/keys';

export const keysRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; wrapping: WrappingKey; policy: PolicyAsker }> = async (app, { keys, wrapping, policy }) => {
  app.addSchema(KeyMetadata);
  const Meta = Type.Ref(KeyMetadata);
  const one = { 200: Meta };
  const config = { auth: 'token' } as const;

  app.post(
    '/v1/keys',
    { config, schema: { operationId: 'createKey', tags: ['keys'], summary: 'Create a key', body: CreateKeyBody, response: responses(one) } },
    async (req) => metadataOf(await keys.create(req.body)),
  );

  app.get(
    '/v1/keys',
    {
      config,
      schema: {
        operationId: 'listKeys',
        tags: ['keys'],
        summary: 'List the keys the caller may read (readKey), by name (paged; a page may hold fewer than limit)',
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: '1-1000, default 100' })),
            after: Type.Optional(Type.String({ pattern: `^(?:${KEY_NAME_PATTERN.slice(1, -1)}|${SEALED_MARKER_PATTERN})$`, description: 'Return names after this one (a name, or the sealed `next` of the previous page)' })),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Type.Object({ keys: Type.Array(Meta), next: Type.Optional(Type.String()) }, { additionalProperties: false }) }),
      },
    },
    async (req) => {
      const { after } = req.query;
      const from = after === undefined ? undefined : isSealedMarker(after) ? openMarker(LIST_SCOPE, after) : after;
      // Every key after the marker, filtered here: `next` is the last key shown, never one the caller cannot read.
      const { keys: candidates } = await keys.list({ limit: Number.MAX_SAFE_INTEGER, ...(from !== undefined && { after: from }) });
      const page = await permittedPage(policy, req, 'v1', 'readKey', candidates, { limit: Number(req.query.limit ?? 100), nameOf: (k) => k.name, resourceOf: (k) => ({ type: 'Key', id: k.name }) });
      const next = page.next === undefined ? undefined : 'visible' in page.next ? page.next.visible : sealMarker(LIST_SCOPE, page.next.scanned);
      return { keys: page.items.map(metadataOf), ...(next !== undefined && { next }) };
    },
  );

  app.get(
    '/v1/keys/:name',
    { config, schema: { operationId: 'readKey', tags: ['keys'], summary: 'Key metadata (never key material)', params: KeyNameParams, response: responses(one) } },
    async (req) => metadataOf(await keys.get(req.params.name)),
  );

  app.patch(
    '/v1/keys/:name',
    { config, schema: { operationId: 'updateKey', tags: ['keys'], summary: 'Change description, tags, version limits, rotation period', params: KeyNameParams, body: UpdateKeyBody, response: responses(one) } },
    async (req) =>
      // Decided on the record under the key's lock, so a policy added meanwhile cannot be lifted by a check made before it.
      metadataOf(
        await keys.update(req.params.name, req.body, async (current) => {
          if (!releasePolicyChangeNeedsAction(current.releasePolicy, req.body.releasePolicy)) return;
          if (!(await mayDo(policy, req, 'v1', 'changeKeyReleasePolicy', { type: 'Key', id: req.params.name })))
            throw new KeyholdError('KH_AUTH_PERMISSION_DENIED', 'removing or replacing a release policy needs changeKeyReleasePolicy (by default: a second factor)');
        }),
      ),
  );

  app.post(
    '/v1/keys/:name/rotate',
    { config, schema: { operationId: 'rotateKey', tags: ['keys'], summary: 'Add a new version and make it current', params: KeyNameParams, response: responses(one) } },
    async (req) => metadataOf(await keys.rotate(req.params.name)),
  );

  app.post(
    '/v1/keys/:name/trim',
    {
      config,
      schema: {
        operationId: 'trimKey',
        tags: ['keys'],
        summary: 'Destroy versions below minAvailableVersion (must be <= minDecryptionVersion)',
        params: KeyNameParams,
        body: Type.Object({ minAvailableVersion: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        response: responses(one),
      },
    },
    async (req) => metadataOf(await keys.trim(req.params.name, req.body.minAvailableVersion)),
  );

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post(
      `/v1/keys/:name/${action}`,
      { config, schema: { operationId: `${action}Key`, tags: ['keys'], summary: `${action === 'enable' ? 'Enable' : 'Disable'} the key`, params: KeyNameParams, response: responses(one) } },
      async (req) => metadataOf(await keys.setEnabled(req.params.name, enabled)),
    );
  }

  app.delete(
    '/v1/keys/:name',
    {
      config,
      schema: {
        operationId: 'scheduleKeyDeletion',
        tags: ['keys'],
        summary: `Schedule deletion after a waiting period (${MIN_DELETION_DAYS}-${MAX_DELETION_DAYS} days, default ${MAX_DELETION_DAYS}); the key is unusable meanwhile`,
        params: KeyNameParams,
        querystring: Type.Object({ waitingDays: Type.Optional(Type.String({ pattern: '^[0-9]{1,2}$' })) }, { additionalProperties: false }),
        response: responses(one),
      },
    },
    async (req) => metadataOf(await keys.scheduleDeletion(req.params.name, req.query.waitingDays === undefined ? undefined : Number(req.query.waitingDays))),
  );

  app.get(
    '/v1/wrapping-key',
    {
      config,
      schema: {
        operationId: 'getWrappingKey',
        tags: ['keys'],
        summary: 'The RSA-4096 public key to wrap key material for import (RSA-OAEP-SHA256 + AES-KWP, as Vault transit)',
        response: responses({ 200: Type.Object({ publicKey: Type.String(), algorithm: Type.Literal('RSA_OAEP_SHA256_AES_KWP') }, { additionalProperties: false }) }),
      },
    },
    async () => ({ publicKey: await wrapping.publicKeyPem(), algorithm: 'RSA_OAEP_SHA256_AES_KWP' as const }),
  );

  const ImportMaterial = {
    ciphertext: Type.Optional(Type.String({ maxLength: 16384, description: 'Wrapped key material (base64): RSA-OAEP-SHA256(ephemeral AES key) || AES-KWP(material)' })),
    publicKey: Type.Optional(Type.String({ maxLength: 16384, description: 'Public key only (base64 SPKI DER, or raw for ML-DSA/ML-KEM/X25519): creates a verify/encrypt-only key' })),
  };
  const material = async (body: { ciphertext?: string; publicKey?: string }) => {
    if ((body.ciphertext === undefined) === (body.publicKey === undefined)) throw new KeyholdError('KH_INPUT_INVALID', 'give exactly one of ciphertext or publicKey');
    if (body.publicKey !== undefined) return { publicKey: b64('publicKey', body.publicKey) };
    return { secret: await wrapping.unwrap(b64('ciphertext', body.ciphertext!)) };
  };

  app.post(
    '/v1/keys/:name/import',
    {
      config,
      schema: {
        operationId: 'importKey',
        tags: ['keys'],
        summary: 'Create a key from wrapped key material (BYOK) or from a public key only',
        params: KeyNameParams,
        body: Type.Object({ ...Type.Omit(CreateKeyBody, ['name']).properties, ...ImportMaterial }, { additionalProperties: false }),
        response: responses(one),
      },
    },
    async (req) => {
      const { ciphertext, publicKey, ...rest } = req.body;
      const m = await material({ ...(ciphertext !== undefined ? { ciphertext } : {}), ...(publicKey !== undefined ? { publicKey } : {}) });
      try {
        return metadataOf(await keys.importKey({ ...rest, name: req.params.name, ...m }));
      } finally {
        m.secret?.fill(0);
      }
    },
  );

  app.post(
    '/v1/keys/:name/import-version',
    {
      config,
      schema: {
        operationId: 'importKeyVersion',
        tags: ['keys'],
        summary: 'Add a version from wrapped key material (or a public key, for public-only keys)',
        params: KeyNameParams,
        body: Type.Object(ImportMaterial, { additionalProperties: false }),
        response: responses(one),
      },
    },
    async (req) => {
      const m = await material(req.body);
      try {
        return metadataOf(await keys.importNewVersion(req.params.name, m));
      } finally {
        m.secret?.fill(0);
      }
    },
  );

  app.get(
    '/v1/keys/:name/export',
    {
      config,
      schema: {
        operationId: 'exportKey',
        tags: ['keys'],
        summary: 'Key material of an exportable key (403 KH_KEY_NOT_EXPORTABLE otherwise)',
        params: KeyNameParams,
        response: responses({
          200: Type.Object(
            {
              name: Type.String(),
              type: Type.String(),
              versions: Type.Array(Type.Object({ version: Type.Integer(), secret: Type.Optional(Type.String()), publicKey: Type.Optional(Type.String()) }, { additionalProperties: false })),
            },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async (req) => keys.exportKey(req.params.name),
  );

  app.post(
    '/v1/keys/:name/cancel-deletion',
    { config, schema: { operationId: 'cancelKeyDeletion', tags: ['keys'], summary: 'Cancel a scheduled deletion (the key comes back disabled)', params: KeyNameParams, response: responses(one) } },
    async (req) => metadataOf(await keys.cancelDeletion(req.params.name)),
  );
};
