/**
 * /v1/sys/generate-root: a new root token from a quorum of shares (unseal
 * shares, or recovery shares with an HSM seal), as Vault's generate-root.
 * init -> update xT -> the token, shown once. The shares authorise it, so no
 * token is needed (that is the point: the old root token may be lost); the
 * nonce ties updates to one attempt. Every call is audited. The new token
 * may be given a TTL at init (Vault's advice: a root token for the task at
 * hand, then revoked; src/api/sys/root-token-routes.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SealManager } from '../../seal/seal-manager.js';
import { checkRootTtl, type RootTokens } from '../../auth/root-token.js';
import { responses, ShareString } from '../schemas.js';

const StatusBody = Type.Object(
  { started: Type.Boolean(), nonce: Type.Optional(Type.String()), progress: Type.Integer(), required: Type.Integer() },
  { additionalProperties: false },
);

const UpdateBody = Type.Union([
  Type.Composite([Type.Object({ complete: Type.Literal(false) }), StatusBody], { additionalProperties: false }),
  Type.Object({ complete: Type.Literal(true), rootToken: Type.String({ description: 'The new root token. Shown once.' }) }, { additionalProperties: false }),
]);

export const generateRootRoutes: FastifyPluginAsyncTypebox<{ seal: SealManager; tokens: RootTokens }> = async (app, { seal, tokens }) => {
  const config = { auth: 'none', allowSealed: false } as const;
  const tags = ['sys'];
  // One generation runs at a time (KH_ROOT_GENERATION_IN_PROGRESS), so its TTL is one value, set by init.
  let pendingTtlSeconds: number | undefined;
  app.get(
    '/v1/sys/generate-root/init',
    { config, schema: { operationId: 'generateRootStatus', tags, summary: 'Progress of the root token generation in progress', response: responses({ 200: StatusBody }) } },
    async () => seal.rootGenerationStatus(),
  );
  app.post(
    '/v1/sys/generate-root/init',
    {
      config,
      schema: {
        operationId: 'generateRootInit',
        tags,
        summary: 'Start generating a new root token from a quorum of shares, optionally with a TTL',
        // A query parameter, so the body-less POST every client already sends stays valid.
        querystring: Type.Object(
          { ttlSeconds: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,7}$', description: 'The new token stops working after this many seconds (at most a year); without it, it lives until revoked' })) },
          { additionalProperties: false },
        ),
        response: responses({ 200: StatusBody }),
      },
    },
    async (request) => {
      const ttl = request.query.ttlSeconds === undefined ? undefined : Number(request.query.ttlSeconds);
      checkRootTtl(ttl);
      const status = await seal.rootGenerationInit();
      pendingTtlSeconds = ttl;
      return status;
    },
  );
  app.delete(
    '/v1/sys/generate-root/init',
    { config, schema: { operationId: 'generateRootCancel', tags, summary: 'Cancel the root token generation in progress', response: responses({ 200: StatusBody }) } },
    async () => {
      pendingTtlSeconds = undefined;
      return seal.rootGenerationCancel();
    },
  );
  app.post(
    '/v1/sys/generate-root/update',
    {
      config,
      schema: {
        operationId: 'generateRootUpdate',
        tags,
        summary: 'Submit one share (a recovery share with an HSM seal); at the threshold the new root token is returned once',
        body: Type.Object({ key: ShareString, nonce: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
        response: responses({ 200: UpdateBody }),
      },
    },
    async (request) =>
      seal.rootGenerationUpdate(request.body.key, request.body.nonce, () =>
        tokens.create(undefined, { origin: 'generate-root', ...(pendingTtlSeconds === undefined ? {} : { ttlSeconds: pendingTtlSeconds }) }),
      ),
  );
};
