/**
 * /v1/secrets: versioned KV secrets on the paths of Vault's KV v2 engine
 * (data/, delete/, undelete/, destroy/, metadata/), in Keyhold's own JSON and
 * error shape. The secret path is the URL wildcard; route-authz.ts makes it
 * the Cedar resource `Keyhold::Secret::"<path>"` (with `path` attribute).
 * Each route: schema, auth, one service call. Audit entries record these
 * bodies only as one HMAC (audit-hooks.ts), whatever their field names.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { KeyholdError } from '../../../errors.js';
import type { SecretManager, SecretVersion } from '../../../secrets/secret-manager.js';
import type { SecretMetadataRecord } from '../../../secrets/secret-record.js';
import { MAX_DOCUMENT_BYTES } from '../../../secrets/secret-limits.js';
import type { RecipientVerifier } from '../../../keys/release/recipient.js';
import type { PolicyEngine } from '../../../policy/policy-engine.js';
import { hasMfa } from '../../../auth/principal.js';
import { toBase64, utf8 } from '../../../crypto/bytes.js';
import { responses } from '../../schemas.js';
import { mayDo, permittedItems } from '../../policy-ask.js';
import { releasePolicyChangeNeedsAction } from '../../release-policy-change.js';
import { b64 } from '../inputs.js';
import { deliverAs, releaseGate } from '../recipient-fields.js';
import {
  ListAnswer,
  ReadSecretAnswer,
  ReadSecretQuery,
  RecipientReadAnswer,
  RecipientReadBody,
  SecretMetadataAnswer,
  SecretPathParams,
  VersionsBody,
  WriteMetadataBody,
  WriteSecretAnswer,
  WriteSecretBody,
} from './secret-schemas.js';

export interface SecretsRouteDeps {
  secrets: SecretManager;
  recipients: RecipientVerifier;
  /** Asked again for `generate: { kind: "datakey" }`: the caller must also be allowed generateDataKey on that key. */
  policy: Pick<PolicyEngine, 'authorize'>;
}

/** Base64 of the largest document, plus JSON framing and a TLS bundle's PEM. */
const WRITE_BODY_LIMIT = Math.ceil(MAX_DOCUMENT_BYTES / 3) * 4 + 256 * 1024;

export function metadataAnswer(m: SecretMetadataRecord) {
  return {
    path: m.path,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    currentVersion: m.currentVersion,
    oldestVersion: m.oldestVersion,
    maxVersions: m.maxVersions,
    casRequired: m.casRequired,
    deleteVersionAfterSeconds: m.deleteVersionAfterSeconds,
    customMetadata: m.customMetadata,
    ...(m.releasePolicy !== undefined && { releasePolicy: m.releasePolicy }),
    versions: m.versions,
  };
}

function versionFacts(v: SecretVersion) {
  return { path: v.metadata.path, version: v.version, type: v.info.type, createdAt: v.info.createdAt, customMetadata: v.metadata.customMetadata };
}

function filesB64(v: SecretVersion): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(v.files)) out[name] = toBase64(bytes);
  return out;
}

const pathOf = (req: { params: { '*': string } }) => req.params['*'];

export const secretsRoutes: FastifyPluginAsyncTypebox<SecretsRouteDeps> = async (app, { secrets, recipients, policy }) => {
  const config = { auth: 'token' } as const;
  const tags = ['secrets'];

  /** generateDataKey on the named key, asked for the caller of a datakey-generating write. */
  const mayMakeDataKey = async (request: FastifyRequest, key: string) => {
    const principal = request.principal;
    if (principal === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
    const decision = await policy.authorize({
      principal,
      action: 'generateDataKey',
      resource: { type: 'Key', id: key },
      context: { mfa: hasMfa(principal), authMethods: principal.amr, sourceIp: request.ip, apiSurface: 'v1', batch: false, e2e: request.channelOrigin !== undefined },
    });
    if (!decision.allowed) throw new KeyholdError('KH_AUTH_PERMISSION_DENIED', `generating a data key needs generateDataKey on the key ${key}`);
  };

  app.get(
    '/v1/secrets/data/*',
    {
      config,
      schema: {
        operationId: 'readSecret',
        tags,
        summary: 'Read a version of a secret (default: the current one)',
        description: 'A secret with a release policy is read only with POST /v1/secrets/release/<path> and a recipient (403 KH_RELEASE_RECIPIENT_REQUIRED here).',
        params: SecretPathParams,
        querystring: ReadSecretQuery,
        response: responses({ 200: ReadSecretAnswer }),
      },
    },
    async (req) => {
      const v = await secrets.read(pathOf(req), req.query.version === undefined ? undefined : Number(req.query.version));
      // The gate refuses before any value is serialised when the secret has a release policy.
      releaseGate(recipients, v.metadata.releasePolicy, undefined);
      return { ...versionFacts(v), data: v.data, files: filesB64(v) };
    },
  );

  app.post(
    '/v1/secrets/release/*',
    {
      config,
      schema: {
        operationId: 'readSecretForRecipient',
        tags,
        summary: 'Read a version of a secret sealed to the public_key of an attestation document (required for secrets with a release policy)',
        description: 'Authorised as readSecret. The document is verified against the trusted roots and the release policy; the answer is the JSON {"data":{...},"files":{name: base64}} sealed as in key release (docs/key-release.md).',
        params: SecretPathParams,
        body: RecipientReadBody,
        response: responses({ 200: RecipientReadAnswer }),
      },
    },
    async (req) => {
      const v = await secrets.read(pathOf(req), req.body.version);
      const gate = releaseGate(recipients, v.metadata.releasePolicy, req.body.recipient);
      const plain = utf8(JSON.stringify({ data: v.data, files: filesB64(v) }));
      const sealed = await deliverAs(gate, plain, 'plaintext');
      if (sealed.ciphertextForRecipient === undefined) throw new KeyholdError('KH_INTERNAL');
      return { ...versionFacts(v), ciphertextForRecipient: sealed.ciphertextForRecipient, recipientAlgorithm: sealed.recipientAlgorithm };
    },
  );

  app.post(
    '/v1/secrets/data/*',
    {
      config,
      bodyLimit: WRITE_BODY_LIMIT,
      schema: {
        operationId: 'writeSecret',
        tags,
        summary: 'Write a new version: string values and/or files, TLS material, or generated content',
        params: SecretPathParams,
        body: WriteSecretBody,
        response: responses({ 200: WriteSecretAnswer }),
      },
    },
    async (req) => {
      const { data, files, tls, generate, options } = req.body;
      if (generate?.kind === 'datakey') await mayMakeDataKey(req, generate.key);
      let decoded: Record<string, Uint8Array> | undefined;
      if (files !== undefined) {
        decoded = {};
        for (const [name, content] of Object.entries(files)) decoded[name] = b64(`files.${name}`, content);
      }
      return secrets.write(pathOf(req), { data, files: decoded, tls, generate, cas: options?.cas });
    },
  );

  for (const [op, operationId, summary, needVersions] of [
    ['delete', 'deleteSecret', 'Soft-delete versions (default: the current one); undelete brings them back', false],
    ['undelete', 'undeleteSecret', 'Undo the soft deletion of versions', true],
    ['destroy', 'destroySecret', 'Remove the data of versions for good', true],
  ] as const) {
    app.post(
      `/v1/secrets/${op}/*`,
      { config, schema: { operationId, tags, summary, params: SecretPathParams, body: Type.Optional(VersionsBody), response: responses({ 200: SecretMetadataAnswer }) } },
      async (req) => {
        const versions = req.body?.versions;
        if (needVersions && (versions === undefined || versions.length === 0)) throw new KeyholdError('KH_SECRET_INVALID', `${op} needs the versions to ${op}`);
        const path = pathOf(req);
        const m = op === 'delete' ? await secrets.delete(path, versions) : op === 'undelete' ? await secrets.undelete(path, versions!) : await secrets.destroy(path, versions!);
        return metadataAnswer(m);
      },
    );
  }

  app.get(
    '/v1/secrets/metadata/*',
    { config, schema: { operationId: 'readSecretMetadata', tags, summary: 'Settings and version history of a secret (never its data)', params: SecretPathParams, response: responses({ 200: SecretMetadataAnswer }) } },
    async (req) => metadataAnswer(await secrets.metadata(pathOf(req))),
  );

  app.post(
    '/v1/secrets/metadata/*',
    {
      config,
      schema: {
        operationId: 'writeSecretMetadata',
        tags,
        summary: 'Create or change the settings of a secret: maxVersions, casRequired, deleteVersionAfterSeconds, customMetadata, releasePolicy',
        params: SecretPathParams,
        body: WriteMetadataBody,
        response: responses({ 200: SecretMetadataAnswer }),
      },
    },
    async (req) =>
      // Decided on the metadata under the path's lock, so a policy added meanwhile cannot be lifted by a check made before it.
      metadataAnswer(
        await secrets.updateMetadata(pathOf(req), req.body, async (current) => {
          if (!releasePolicyChangeNeedsAction(current?.releasePolicy, req.body.releasePolicy)) return;
          if (!(await mayDo(policy, req, 'v1', 'changeSecretReleasePolicy', { type: 'Secret', id: pathOf(req) })))
            throw new KeyholdError('KH_AUTH_PERMISSION_DENIED', 'removing or replacing a release policy needs changeSecretReleasePolicy (by default: a second factor)');
        }),
      ),
  );

  app.delete(
    '/v1/secrets/metadata/*',
    {
      config,
      schema: {
        operationId: 'deleteSecretMetadata',
        tags,
        summary: 'Delete a secret: its metadata and every version, for good',
        params: SecretPathParams,
        response: responses({ 200: Type.Object({ deleted: Type.Boolean() }, { additionalProperties: false }) }),
      },
    },
    async (req) => {
      await secrets.deleteMetadata(pathOf(req));
      return { deleted: true };
    },
  );

  app.get(
    '/v1/secrets/list/*',
    {
      config,
      schema: {
        operationId: 'listSecrets',
        tags,
        summary: 'Names under a folder (one level; sub-folders end with "/"); /v1/secrets/list/ lists the top. Only names the caller may read (readSecretMetadata; listSecrets for sub-folders)',
        params: SecretPathParams,
        response: responses({ 200: ListAnswer }),
      },
    },
    async (req) => {
      const prefix = pathOf(req);
      const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
      const { keys } = await secrets.list(prefix);
      const leaves = await permittedItems(policy, req, 'v1', 'readSecretMetadata', keys.filter((k) => !k.endsWith('/')), (k) => ({ type: 'Secret', id: folder + k }));
      const folders = await permittedItems(policy, req, 'v1', 'listSecrets', keys.filter((k) => k.endsWith('/')), (k) => ({ type: 'Secret', id: folder + k }));
      return { keys: [...leaves, ...folders].sort() };
    },
  );
};
