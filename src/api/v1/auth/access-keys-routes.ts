/**
 * /v1/auth/access-keys: AWS-style access keys for users and machines, used to
 * sign requests to the AWS KMS-compatible API (AWS Signature Version 4). The
 * secret access key is in the create answer only; the audit log records it
 * HMAC'd like every other string value.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AccessKeys } from '../../../auth/access-keys.js';
import { MAX_DESCRIPTION_LENGTH } from '../../../auth/access-keys.js';
import { responses } from '../../schemas.js';
import { permittedItems, type PolicyAsker } from '../../policy-ask.js';
import { IdentityName } from './auth-schemas.js';
import { accessKeyOwnerTarget, accessKeyTarget, identityGroups, type IdentityDirectory } from './identity-targets.js';

export interface AccessKeyRouteDeps extends IdentityDirectory {
  accessKeys: AccessKeys;
  policy: PolicyAsker;
}

const PrincipalType = Type.Union([Type.Literal('User'), Type.Literal('Machine')], { description: 'Kind of identity the key acts as' });
const AccessKeyId = Type.String({ minLength: 20, maxLength: 20, pattern: '^KHAK[A-Z2-7]{16}$', description: 'Access key id (AWS_ACCESS_KEY_ID)' });
const infoFields = {
  accessKeyId: Type.String(),
  principalType: PrincipalType,
  principalName: Type.String(),
  description: Type.String(),
  createdAt: Type.String({ description: 'ISO 8601' }),
};
const AccessKeyBody = Type.Object(
  { ...infoFields, lastUsedAt: Type.Optional(Type.String({ description: 'ISO 8601; updated at most once a minute' })) },
  { additionalProperties: false },
);
const CreatedBody = Type.Object(
  { ...infoFields, secretAccessKey: Type.String({ description: 'AWS_SECRET_ACCESS_KEY: shown this once, never again' }) },
  { additionalProperties: false },
);

export const accessKeyRoutes: FastifyPluginAsyncTypebox<AccessKeyRouteDeps> = async (app, { accessKeys, policy, users, machines }) => {
  const tags = ['identities'];
  const dir = { users, machines };

  app.post(
    '/v1/auth/access-keys',
    {
      // Authorised on the identity the key will act as: minting a key for an identity is acting as it.
      config: { auth: 'token', target: accessKeyOwnerTarget(dir) },
      schema: {
        operationId: 'createAccessKey',
        tags,
        summary: 'Issue an AWS-style access key for a user or machine (for the AWS KMS-compatible API); the secret is answered once',
        body: Type.Object(
          {
            principalType: PrincipalType,
            principalName: IdentityName,
            // No control characters: the description is shown in terminals by `keyhold auth access-key list`.
            description: Type.Optional(Type.String({ maxLength: MAX_DESCRIPTION_LENGTH, pattern: '^[^\\u0000-\\u001f\\u007f]*$' })),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: CreatedBody }),
      },
    },
    async (request) => {
      const { principalType, principalName, description } = request.body;
      return accessKeys.create({ principalType, principalName, ...(description !== undefined && { description }) });
    },
  );

  app.get(
    '/v1/auth/access-keys',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'listAccessKeys',
        tags,
        summary: 'Every access key of an identity the caller may read (readUser / readMachine), without secrets',
        response: responses({ 200: Type.Object({ accessKeys: Type.Array(AccessKeyBody) }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      const all = await accessKeys.list();
      const groups = new Map<string, readonly string[]>();
      for (const k of all) {
        const id = `${k.principalType}:${k.principalName}`;
        if (!groups.has(id)) groups.set(id, await identityGroups(dir, k.principalType, k.principalName));
      }
      const readable = async (type: 'User' | 'Machine') =>
        permittedItems(policy, request, 'v1', type === 'User' ? 'readUser' : 'readMachine', all.filter((k) => k.principalType === type), (k) => ({ type, id: k.principalName, groups: groups.get(`${type}:${k.principalName}`) ?? [] }));
      const visible = new Set([...(await readable('User')), ...(await readable('Machine'))]);
      return { accessKeys: all.filter((k) => visible.has(k)) };
    },
  );

  app.delete(
    '/v1/auth/access-keys/:accessKeyId',
    {
      config: { auth: 'token', target: accessKeyTarget(dir, accessKeys) },
      schema: {
        operationId: 'deleteAccessKey',
        tags,
        summary: 'Delete an access key; requests signed with it are refused from then on',
        params: Type.Object({ accessKeyId: AccessKeyId }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ deleted: Type.Literal(true) }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await accessKeys.delete(request.params.accessKeyId);
      return { deleted: true as const };
    },
  );
};
