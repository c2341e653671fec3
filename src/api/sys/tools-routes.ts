/** /v1/sys/tools/random: random bytes from Keyhold's entropy source (as Vault's sys/tools/random). */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { entropy } from '../../crypto/random.js';
import { toBase64, toHex } from '../../crypto/bytes.js';
import { responses } from '../schemas.js';

export const MAX_RANDOM_BYTES = 1024;

export const toolsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/sys/tools/random',
    {
      config: { auth: 'root' },
      schema: {
        operationId: 'random',
        tags: ['sys'],
        summary: 'Random bytes',
        body: Type.Object(
          {
            bytes: Type.Integer({ minimum: 1, maximum: MAX_RANDOM_BYTES, default: 32 }),
            format: Type.Union([Type.Literal('base64'), Type.Literal('hex')], { default: 'base64' }),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Type.Object({ random: Type.String() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      const bytes = entropy(request.body.bytes);
      return { random: request.body.format === 'hex' ? toHex(bytes) : toBase64(bytes) };
    },
  );
};
