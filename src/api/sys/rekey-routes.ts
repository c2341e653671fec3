/**
 * /v1/sys/rekey: issue new unseal shares (new count/threshold) given a
 * threshold of the current ones. Like Vault: init -> update xT -> new shares.
 * The shares themselves authorise it, so no token is needed (a holder of T
 * shares can already unseal); the nonce ties updates to one attempt.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SealManager } from '../../seal/seal-manager.js';
import { responses, ShamirParams, ShareString } from '../schemas.js';

const RekeyStatusBody = Type.Object(
  {
    started: Type.Boolean(),
    nonce: Type.Optional(Type.String()),
    progress: Type.Integer(),
    required: Type.Integer(),
    newShares: Type.Optional(Type.Integer()),
    newThreshold: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

const RekeyUpdateBody = Type.Union([
  Type.Composite([Type.Object({ complete: Type.Literal(false) }), RekeyStatusBody], { additionalProperties: false }),
  Type.Object(
    {
      complete: Type.Literal(true),
      shares: Type.Array(Type.String(), { description: 'The new unseal shares. Shown once; the old ones no longer work.' }),
      threshold: Type.Integer(),
    },
    { additionalProperties: false },
  ),
]);

export const rekeyRoutes: FastifyPluginAsyncTypebox<{ seal: SealManager }> = async (app, { seal }) => {
  const config = { auth: 'none', allowSealed: false } as const;
  app.get(
    '/v1/sys/rekey/init',
    { config, schema: { operationId: 'rekeyStatus', tags: ['sys'], summary: 'Progress of the rekey in progress', response: responses({ 200: RekeyStatusBody }) } },
    async () => seal.rekeyStatus(),
  );
  app.post(
    '/v1/sys/rekey/init',
    {
      config,
      schema: {
        operationId: 'rekeyInit',
        tags: ['sys'],
        summary: 'Start a rekey with a new share count and threshold',
        body: Type.Object(ShamirParams, { additionalProperties: false }),
        response: responses({ 200: RekeyStatusBody }),
      },
    },
    async (request) => seal.rekeyInit(request.body),
  );
  app.delete(
    '/v1/sys/rekey/init',
    { config, schema: { operationId: 'rekeyCancel', tags: ['sys'], summary: 'Cancel the rekey in progress', response: responses({ 200: RekeyStatusBody }) } },
    async () => seal.rekeyCancel(),
  );
  app.post(
    '/v1/sys/rekey/update',
    {
      config,
      schema: {
        operationId: 'rekeyUpdate',
        tags: ['sys'],
        summary: 'Submit one current share for the rekey in progress',
        body: Type.Object({ key: ShareString, nonce: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
        response: responses({ 200: RekeyUpdateBody }),
      },
    },
    async (request) => seal.rekeyUpdate(request.body.key, request.body.nonce),
  );
};
