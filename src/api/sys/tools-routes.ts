/** /v1/sys/tools/random and /hash: random bytes from Keyhold's entropy source and digests (as Vault's sys/tools). */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createHash } from 'node:crypto';
import { entropy } from '../../crypto/random.js';
import { KeyholdError } from '../../errors.js';
import { fromBase64Strict } from '../../crypto/bytes.js';
import { toBase64, toHex } from '../../crypto/bytes.js';
import { responses } from '../schemas.js';
import { deliverAs, RecipientOutputFields, RecipientSchema, releaseGate } from '../v1/recipient-fields.js';
import type { RecipientVerifier } from '../../keys/release/recipient.js';

export const MAX_RANDOM_BYTES = 1024;
export const MAX_HASH_INPUT_BYTES = 4 * 1024 * 1024;
const HASHES = ['sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-384', 'sha3-512'] as const;

export const toolsRoutes: FastifyPluginAsyncTypebox<{ recipients: RecipientVerifier }> = async (app, { recipients }) => {
  app.post(
    '/v1/sys/tools/random',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'random',
        tags: ['sys'],
        summary: 'Random bytes',
        body: Type.Object(
          {
            bytes: Type.Integer({ minimum: 1, maximum: MAX_RANDOM_BYTES, default: 32 }),
            format: Type.Union([Type.Literal('base64'), Type.Literal('hex')], { default: 'base64' }),
            recipient: Type.Optional(RecipientSchema),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Type.Object({ random: Type.Optional(Type.String()), ...RecipientOutputFields }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      const gate = request.body.recipient === undefined ? undefined : releaseGate(recipients, undefined, request.body.recipient);
      const bytes = entropy(request.body.bytes);
      if (gate !== undefined) return deliverAs(gate, bytes, 'random');
      return { random: request.body.format === 'hex' ? toHex(bytes) : toBase64(bytes) };
    },
  );

  app.post(
    '/v1/sys/tools/hash',
    {
      config: { auth: 'token' },
      bodyLimit: Math.ceil(MAX_HASH_INPUT_BYTES / 3) * 4 + 4096,
      schema: {
        operationId: 'hash',
        tags: ['sys'],
        summary: 'Digest of the input (SHA-2, SHA-3)',
        body: Type.Object(
          {
            input: Type.String({ maxLength: Math.ceil(MAX_HASH_INPUT_BYTES / 3) * 4, description: 'data (base64)' }),
            algorithm: Type.Union(HASHES.map((h) => Type.Literal(h)), { default: 'sha256' }),
            format: Type.Union([Type.Literal('base64'), Type.Literal('hex')], { default: 'hex' }),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: Type.Object({ sum: Type.String() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      const input = fromBase64Strict(request.body.input);
      if (input === undefined) throw new KeyholdError('KH_INPUT_INVALID', 'input is not valid base64');
      const digest = createHash(request.body.algorithm).update(input).digest();
      return { sum: request.body.format === 'hex' ? toHex(digest) : toBase64(digest) };
    },
  );
};
