/** GET /v1/sys/health on the API port: the same answer as /health on the health port. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SealManager } from '../../seal/seal-manager.js';
import { healthAnswer } from './health-app.js';

const HealthBody = Type.Object({ initialized: Type.Boolean(), sealed: Type.Boolean(), version: Type.String() }, { additionalProperties: false });

export const healthRoutes: FastifyPluginAsyncTypebox<{ seal: SealManager }> = async (app, { seal }) => {
  app.get(
    '/v1/sys/health',
    {
      config: { auth: 'none', allowSealed: true },
      schema: {
        operationId: 'health',
        tags: ['sys'],
        summary: 'Health: 200 unsealed, 503 sealed, 501 uninitialized',
        response: { 200: HealthBody, 501: HealthBody, 503: HealthBody },
      },
    },
    async (_request, reply) => {
      const { status, body } = await healthAnswer(seal);
      return reply.code(status).send(body);
    },
  );
};
