/** /v1/sys: init, seal-status, unseal, seal (the Shamir seal lifecycle). */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SealManager } from '../../seal/seal-manager.js';
import { generateRootToken, RootTokens } from '../../auth/root-token.js';
import { responses, SealStatusBody, ShamirParams, ShareString } from '../schemas.js';

export interface SealRoutesDeps {
  seal: SealManager;
  tokens: RootTokens;
}

export const InitResponse = Type.Object(
  {
    shares: Type.Array(Type.String(), { description: 'Unseal shares (base64), or recovery shares with an automatic seal (HSM or enclave). Shown once: distribute them now.' }),
    threshold: Type.Integer(),
    rootToken: Type.String({ description: 'Initial root token. Shown once.' }),
    recoveryShares: Type.Boolean({ description: 'true with an automatic seal (HSM or enclave): the vault unseals itself and the shares only authorise root-level operations' }),
  },
  { additionalProperties: false },
);

export const sealRoutes: FastifyPluginAsyncTypebox<SealRoutesDeps> = async (app, { seal }) => {
  app.get(
    '/v1/sys/seal-status',
    {
      config: { auth: 'none', allowSealed: true },
      schema: { operationId: 'sealStatus', tags: ['sys'], summary: 'Initialization and seal state', response: responses({ 200: SealStatusBody }) },
    },
    async () => seal.status(),
  );

  app.post(
    '/v1/sys/init',
    {
      config: { auth: 'none', allowSealed: true },
      schema: {
        operationId: 'init',
        tags: ['sys'],
        summary: 'Initialize: create the root key, split the unseal key, issue the first root token',
        body: Type.Object(ShamirParams, { additionalProperties: false }),
        response: responses({ 200: InitResponse }),
      },
    },
    async (request) => {
      const rootToken = generateRootToken();
      const { shares, recovery } = await seal.initialize(request.body, (barrier) => [RootTokens.seedOp(barrier, rootToken)]);
      return { shares, threshold: request.body.threshold, rootToken, recoveryShares: recovery };
    },
  );

  app.post(
    '/v1/sys/unseal',
    {
      config: { auth: 'none', allowSealed: true },
      schema: {
        operationId: 'unseal',
        tags: ['sys'],
        summary: 'Submit one unseal share (recovery share with an automatic seal), or reset progress',
        body: Type.Union([
          Type.Object(
            { key: ShareString, migrate: Type.Optional(Type.Boolean({ description: 'Migrate to the configured seal when this share completes the threshold' })) },
            { additionalProperties: false },
          ),
          Type.Object({ reset: Type.Literal(true) }, { additionalProperties: false }),
        ]),
        response: responses({ 200: SealStatusBody }),
      },
    },
    async (request) => ('reset' in request.body ? seal.resetUnseal() : seal.unseal(request.body.key, { migrate: request.body.migrate === true })),
  );

  app.post(
    '/v1/sys/seal',
    {
      config: { auth: 'token' },
      schema: { operationId: 'seal', tags: ['sys'], summary: 'Seal: wipe every key from memory', response: responses({ 200: SealStatusBody }) },
    },
    async () => {
      await seal.seal();
      return seal.status();
    },
  );
};
