/**
 * /v1/sys/root-token*: root tokens are listed by accessor, looked up and
 * revoked (src/auth/root-token.ts), as Vault's auth/token/lookup-self,
 * revoke-self and revoke-accessor. Vault's advice holds here too: a root
 * token is for the task that needs it, then revoked; generate-root makes a
 * new one from a quorum of shares when one is needed again.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { KeyholdError } from '../../errors.js';
import { ROOT_ACCESSOR_PREFIX, type RootTokens } from '../../auth/root-token.js';
import { presentedToken } from '../hooks.js';
import { responses } from '../schemas.js';

export const RootTokenInfoBody = Type.Object(
  {
    accessor: Type.String({ description: 'Names the token without granting anything; revoke by it with revoke-accessor' }),
    createdAt: Type.String(),
    origin: Type.Optional(Type.Union([Type.Literal('init'), Type.Literal('generate-root'), Type.Literal('dev')])),
    expiresAt: Type.Optional(Type.String({ description: 'absent: valid until revoked' })),
  },
  { additionalProperties: false },
);

export const rootTokenRoutes: FastifyPluginAsyncTypebox<{ tokens: RootTokens }> = async (app, { tokens }) => {
  const config = { auth: 'token' } as const;
  const tags = ['sys'];

  /** The root token of this request. @throws KeyholdError KH_AUTH_ROOT_TOKEN_REQUIRED when the caller used an access token */
  const callerRootToken = (request: FastifyRequest): string => {
    const token = presentedToken(request);
    if (token === undefined || request.principal?.amr.includes('root') !== true) throw new KeyholdError('KH_AUTH_ROOT_TOKEN_REQUIRED');
    return token;
  };

  app.get(
    '/v1/sys/root-tokens',
    {
      config,
      schema: {
        operationId: 'listRootTokens',
        tags,
        summary: 'Every live root token, by accessor (never the token itself)',
        response: responses({ 200: Type.Object({ rootTokens: Type.Array(RootTokenInfoBody) }, { additionalProperties: false }) }),
      },
    },
    async () => ({ rootTokens: await tokens.list() }),
  );

  app.get(
    '/v1/sys/root-token/lookup-self',
    { config, schema: { operationId: 'lookupRootTokenSelf', tags, summary: 'The accessor, origin and expiry of the root token making the request', response: responses({ 200: RootTokenInfoBody }) } },
    async (request) => {
      const found = await tokens.lookup(callerRootToken(request));
      if (found === undefined) throw new KeyholdError('KH_AUTH_TOKEN_INVALID');
      return found;
    },
  );

  app.post(
    '/v1/sys/root-token/revoke-self',
    {
      config,
      schema: {
        operationId: 'revokeRootTokenSelf',
        tags,
        summary: 'Revoke the root token making the request (Vault: revoke root tokens after use); effective on the next request',
        response: responses({ 200: Type.Object({ revoked: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request) => ({ revoked: (await tokens.revokeToken(callerRootToken(request))) ? 1 : 0 }),
  );

  app.post(
    '/v1/sys/root-token/revoke-accessor',
    {
      config,
      schema: {
        operationId: 'revokeRootToken',
        tags,
        summary: 'Revoke the root token with this accessor; effective on the next request',
        body: Type.Object({ accessor: Type.String({ minLength: ROOT_ACCESSOR_PREFIX.length + 1, maxLength: 64, pattern: '^khra\\.[A-Za-z0-9_-]+$' }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ revoked: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await tokens.revokeAccessor(request.body.accessor);
      return { revoked: 1 };
    },
  );
};
