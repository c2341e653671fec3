/**
 * Vault transit key management (https://developer.hashicorp.com/vault/api-docs/secret/transit):
 * create, read, list, delete (only with deletion_allowed, then at once),
 * config, rotate, trim and export. Each is one KeyManager call.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../../errors.js';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { ManagedKey } from '../../../keys/managed-key.js';
import { fromBase64Strict } from '../../../crypto/bytes.js';
import { createPrivateKey } from 'node:crypto';
import { KeyInfo, keyholdType, keyInfo, vaultPublicKey, vaultType } from './key-types.js';
import { badRequest, envelope, TransitError, vaultResponses } from './vault-shape.js';
import { permittedItems, type PolicyAsker } from '../../policy-ask.js';

export const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
const config = { auth: 'token' } as const;
const tags = ['vault-transit'];

/** Vault durations: integer seconds, or a Go-style duration of one unit ("24h", "30m", "3600s"). */
const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]{1,10}(s|m|h)?$' })]);
function seconds(d: number | string): number {
  if (typeof d === 'number') return d;
  const n = Number.parseInt(d, 10);
  return d.endsWith('h') ? n * 3600 : d.endsWith('m') ? n * 60 : n;
}

export const transitKeysRoutes: FastifyPluginAsyncTypebox<{ keys: KeyManager; policy: PolicyAsker }> = async (app, { keys, policy }) => {
  const info = (request: Parameters<typeof envelope>[0], key: ManagedKey) => envelope(request, keyInfo(key));

  app.post(
    '/keys/:name',
    {
      config,
      schema: {
        operationId: 'transitCreateKey',
        tags,
        summary: 'Create a named key (Vault type names); an existing key is left as it is',
        params: NameParams,
        body: Type.Object(
          {
            type: Type.Optional(Type.String({ maxLength: 64, default: 'aes256-gcm96' })),
            exportable: Type.Optional(Type.Boolean()),
            derived: Type.Optional(Type.Boolean()),
            convergent_encryption: Type.Optional(Type.Boolean()),
            allow_plaintext_backup: Type.Optional(Type.Boolean()),
            auto_rotate_period: Type.Optional(Duration),
            key_size: Type.Optional(Type.Integer()),
          },
          { additionalProperties: false },
        ),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => {
      const b = request.body;
      if (b.derived === true || b.convergent_encryption === true) throw badRequest('key derivation and convergent encryption are not supported by Keyhold', 'KH_KEY_OPTION_UNSUPPORTED');
      if (b.allow_plaintext_backup === true) throw badRequest('plaintext backups are not supported by Keyhold', 'KH_KEY_OPTION_UNSUPPORTED');
      const type = keyholdType(b.type ?? 'aes256-gcm96', b.key_size);
      try {
        const key = await keys.create({
          name: request.params.name,
          type,
          exportable: b.exportable ?? false,
          ...(b.auto_rotate_period !== undefined && { autoRotatePeriodSeconds: seconds(b.auto_rotate_period) }),
        });
        return info(request, key);
      } catch (e) {
        // As Vault: creating a key that exists changes nothing.
        if (e instanceof KeyholdError && e.code === 'KH_KEY_EXISTS') return info(request, await keys.get(request.params.name));
        throw e;
      }
    },
  );

  app.get(
    '/keys/:name',
    { config, schema: { operationId: 'transitReadKey', tags, summary: 'Read a key: versions, public keys, configuration', params: NameParams, response: vaultResponses(KeyInfo) } },
    async (request) => info(request, await keys.get(request.params.name)),
  );

  app.get(
    '/keys',
    {
      config,
      schema: {
        operationId: 'transitListKeys',
        tags,
        summary: 'List key names (GET with ?list=true; the LIST method arrives here rewritten, src/api/http-list-method.ts)',
        querystring: Type.Object({ list: Type.Optional(Type.String({ maxLength: 8 })) }, { additionalProperties: false }),
        response: vaultResponses(Type.Object({ keys: Type.Array(Type.String()) }, { additionalProperties: false })),
      },
    },
    async (request) => {
      if (!['true', '1', 't', 'TRUE', 'True'].includes(request.query.list ?? '')) throw new TransitError('KH_BAD_REQUEST', 405, 'unsupported operation');
      const names: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await keys.list({ limit: 1000, ...(after !== undefined && { after }) });
        names.push(...(await permittedItems(policy, request, 'vault-transit', 'readKey', page.keys.map((k) => k.name), (id) => ({ type: 'Key', id }))));
        if (page.next === undefined) break;
        after = page.next;
      }
      if (names.length === 0) throw new TransitError('KH_NOT_FOUND', 404, undefined);
      return envelope(request, { keys: names });
    },
  );

  app.delete(
    '/keys/:name',
    {
      config,
      schema: { operationId: 'transitDeleteKey', tags, summary: 'Delete a key at once; refused unless its config has deletion_allowed', params: NameParams, response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      await keys.destroy(request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/keys/:name/config',
    {
      config,
      schema: {
        operationId: 'transitConfigureKey',
        tags,
        summary: 'Set deletion_allowed, min_decryption_version, min_encryption_version, auto_rotate_period',
        params: NameParams,
        body: Type.Object(
          {
            deletion_allowed: Type.Optional(Type.Boolean()),
            min_decryption_version: Type.Optional(Type.Integer({ minimum: 0 })),
            min_encryption_version: Type.Optional(Type.Integer({ minimum: 0 })),
            exportable: Type.Optional(Type.Boolean()),
            allow_plaintext_backup: Type.Optional(Type.Boolean()),
            auto_rotate_period: Type.Optional(Duration),
          },
          { additionalProperties: false },
        ),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => {
      const b = request.body;
      const current = await keys.get(request.params.name);
      if (b.exportable !== undefined && b.exportable !== current.record.exportable) throw badRequest('exportable is fixed when a Keyhold key is created', 'KH_KEY_CONFIG_INVALID');
      if (b.allow_plaintext_backup === true) throw badRequest('plaintext backups are not supported by Keyhold', 'KH_KEY_OPTION_UNSUPPORTED');
      const key = await keys.update(request.params.name, {
        ...(b.deletion_allowed !== undefined && { deletionAllowed: b.deletion_allowed }),
        // Vault treats 0 as "leave unchanged" for min_decryption_version.
        ...(b.min_decryption_version !== undefined && b.min_decryption_version > 0 && { minDecryptionVersion: b.min_decryption_version }),
        ...(b.min_encryption_version !== undefined && { minEncryptionVersion: b.min_encryption_version }),
        ...(b.auto_rotate_period !== undefined && { autoRotatePeriodSeconds: seconds(b.auto_rotate_period) }),
      });
      return info(request, key);
    },
  );

  app.post(
    '/keys/:name/rotate',
    {
      config,
      schema: {
        operationId: 'transitRotateKey',
        tags,
        summary: 'Add a new version and make it current',
        params: NameParams,
        body: Type.Object({}, { additionalProperties: false }),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => info(request, await keys.rotate(request.params.name)),
  );

  app.post(
    '/keys/:name/trim',
    {
      config,
      schema: {
        operationId: 'transitTrimKey',
        tags,
        summary: 'Destroy versions below min_available_version (at most min_decryption_version)',
        params: NameParams,
        body: Type.Object({ min_available_version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        response: vaultResponses(KeyInfo),
      },
    },
    async (request) => info(request, await keys.trim(request.params.name, request.body.min_available_version)),
  );

  const ExportParams = Type.Object(
    {
      type: Type.Union([Type.Literal('encryption-key'), Type.Literal('signing-key'), Type.Literal('hmac-key'), Type.Literal('public-key')]),
      name: Type.String({ minLength: 1, maxLength: 128 }),
      version: Type.Optional(Type.String({ pattern: '^(latest|[1-9][0-9]{0,8})$' })),
    },
    { additionalProperties: false },
  );
  const ExportData = Type.Object({ name: Type.String(), type: Type.String(), keys: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false });
  const exportHandler = async (request: { id: string; params: { type: string; name: string; version?: string | undefined } } & Parameters<typeof envelope>[0]) => {
    const { type, name, version } = request.params;
    const key = await keys.get(name);
    const kind = key.spec.kind === 'hsm' ? (key.spec.hsm.algorithm === 'aes-gcm' ? 'aead' : 'signature') : key.spec.kind;
    const fits = type === 'encryption-key' ? kind === 'aead' || (kind === 'signature' && key.record.type.startsWith('rsa-')) : type === 'hmac-key' ? kind === 'hmac' : kind === 'signature';
    if (!fits) throw badRequest(`${type} is not available for a ${vaultType(key.record.type)} key`, 'KH_KEY_OPERATION_UNSUPPORTED');
    const wanted = (v: number) => version === undefined || (version === 'latest' ? v === key.record.latestVersion : v === Number(version));
    const out: Record<string, string> = {};
    if (type === 'public-key') {
      // Public keys are not secret: Vault exports them from non-exportable keys too.
      for (const v of key.record.versions) if (v.version >= key.record.minAvailableVersion && wanted(v.version)) out[String(v.version)] = vaultPublicKey(key, v.version);
    } else {
      for (const v of (await keys.exportKey(name)).versions) {
        if (!wanted(v.version) || v.secret === undefined) continue;
        out[String(v.version)] = kind === 'signature' ? privatePem(v.secret) : v.secret;
      }
    }
    if (Object.keys(out).length === 0) throw badRequest('version not found', 'KH_KEY_VERSION_INVALID');
    return envelope(request, { name: key.name, type: vaultType(key.record.type), keys: out });
  };
  const exportSchema = (operationId: string) => ({
    operationId,
    tags,
    summary: 'Export key material of an exportable key (public-key: any asymmetric key); refused for non-exportable keys',
    params: ExportParams,
    response: vaultResponses(ExportData),
  });
  app.get('/export/:type/:name', { config, schema: exportSchema('transitExportKey') }, exportHandler);
  app.get('/export/:type/:name/:version', { config, schema: exportSchema('transitExportKeyVersion') }, exportHandler);
};

/** A signing key's stored private key as PKCS#8 PEM (Vault gives PEM for ECDSA and RSA). */
function privatePem(secret: string): string {
  const der = fromBase64Strict(secret);
  if (der === undefined) throw new KeyholdError('KH_INTERNAL');
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  } catch {
    // Not PKCS#8 (a raw seed): returned as stored, base64.
    return secret;
  }
}
