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
import { IdentityName } from './auth-schemas.js';

export interface AccessKeyRouteDeps {
  accessKeys: AccessKeys;
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

export const accessKeyRoutes: FastifyPluginAsyncTypebox<AccessKeyRouteDeps> = async (app, { accessKeys }) => {
  const tags = ['identities'];

  app.post(
    '/v1/auth/access-keys',
    {
      config: { auth: 'token' },
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
        summary: 'Every access key, without secrets',
        response: responses({ 200: Type.Object({ accessKeys: Type.Array(AccessKeyBody) }, { additionalProperties: false }) }),
      },
    },
    async () => ({ accessKeys: await accessKeys.list() }),
  );

  app.delete(
    '/v1/auth/access-keys/:accessKeyId',
    {
      config: { auth: 'token' },
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
