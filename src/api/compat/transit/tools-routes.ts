/** Vault transit random and hash (no key involved): POST /transit/random[/:bytes], /transit/hash[/:algorithm]. */
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { entropy } from '../../../crypto/random.js';
import { toBase64, toHex } from '../../../crypto/bytes.js';
import { MAX_HASH_INPUT_BYTES, MAX_RANDOM_BYTES } from '../../sys/tools-routes.js';
import { base64Field, config, tags } from './crypto-routes.js';
import { badRequest, envelope, vaultResponses } from './vault-shape.js';

/** Vault's algorithm names -> node:crypto's. */
const HASHES: Readonly<Record<string, string>> = {
  'sha2-224': 'sha224',
  'sha2-256': 'sha256',
  'sha2-384': 'sha384',
  'sha2-512': 'sha512',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
};
const Format = Type.Optional(Type.Union([Type.Literal('base64'), Type.Literal('hex')]));

export const transitToolsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const RandomBody = Type.Object(
    { bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_RANDOM_BYTES })), format: Format, source: Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('all')])) },
    { additionalProperties: false },
  );
  const RandomData = Type.Object({ random_bytes: Type.String() }, { additionalProperties: false });
  for (const withBytes of [false, true]) {
    app.post(
      withBytes ? '/random/:bytes' : '/random',
      {
        config,
        schema: {
          operationId: withBytes ? 'transitRandomBytes' : 'transitRandom',
          tags,
          summary: `Random bytes from the entropy source (default 32, at most ${MAX_RANDOM_BYTES})`,
          ...(withBytes && { params: Type.Object({ bytes: Type.String({ pattern: '^[1-9][0-9]{0,5}$' }) }, { additionalProperties: false }) }),
          body: RandomBody,
          response: vaultResponses(RandomData),
        },
      },
      async (request) => {
        const fromPath = (request.params as { bytes?: string }).bytes;
        const n = fromPath !== undefined ? Number(fromPath) : (request.body.bytes ?? 32);
        if (n > MAX_RANDOM_BYTES) throw badRequest(`at most ${MAX_RANDOM_BYTES} bytes can be requested`, 'KH_INPUT_TOO_LARGE');
        const bytes = entropy(n);
        try {
          return envelope(request, { random_bytes: request.body.format === 'hex' ? toHex(bytes) : toBase64(bytes) });
        } finally {
          bytes.fill(0);
        }
      },
    );
  }

  const HashBody = Type.Object(
    { input: Type.Optional(Type.String({ maxLength: Math.ceil(MAX_HASH_INPUT_BYTES / 3) * 4 })), algorithm: Type.Optional(Type.String({ maxLength: 16 })), format: Format },
    { additionalProperties: false },
  );
  for (const withAlgorithm of [false, true]) {
    app.post(
      withAlgorithm ? '/hash/:algorithm' : '/hash',
      {
        config,
        bodyLimit: Math.ceil(MAX_HASH_INPUT_BYTES / 3) * 4 + 4096,
        schema: {
          operationId: withAlgorithm ? 'transitHashWithAlgorithm' : 'transitHash',
          tags,
          summary: 'Digest of base64 input: sha2-224/256/384/512, sha3-224/256/384/512 (default sha2-256, hex)',
          ...(withAlgorithm && { params: Type.Object({ algorithm: Type.String({ maxLength: 16 }) }, { additionalProperties: false }) }),
          body: HashBody,
          response: vaultResponses(Type.Object({ sum: Type.String() }, { additionalProperties: false })),
        },
      },
      async (request) => {
        const name = (request.params as { algorithm?: string }).algorithm ?? request.body.algorithm ?? 'sha2-256';
        const algorithm = HASHES[name];
        if (algorithm === undefined) throw badRequest(`unsupported algorithm ${name}`, 'KH_KEY_OPTION_UNSUPPORTED');
        if (request.body.input === undefined) throw badRequest('missing input', 'KH_BAD_REQUEST');
        const digest = createHash(algorithm).update(base64Field('input', request.body.input, MAX_HASH_INPUT_BYTES)).digest();
        return envelope(request, { sum: request.body.format === 'base64' ? toBase64(digest) : toHex(digest) });
      },
    );
  }
};
