/**
 * /v1/sys/policy: push a signed Cedar policy bundle (docs/protocols.md §6) and
 * show the active one. The bundle travels as base64 of its exact bytes, since
 * the detached signature covers those bytes and not a re-serialisation.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../errors.js';
import { fromBase64Strict } from '../../crypto/bytes.js';
import { MAX_BUNDLE_BYTES, MAX_SIGNATURE_CHARS } from '../../policy/bundle.js';
import type { PolicyEngine } from '../../policy/policy-engine.js';
import { responses } from '../schemas.js';

const BUNDLE_BASE64_CHARS = Math.ceil(MAX_BUNDLE_BYTES / 3) * 4;

export const PushPolicyBody = Type.Object(
  {
    bundle: Type.String({ minLength: 1, maxLength: BUNDLE_BASE64_CHARS, description: 'The exact bundle bytes (JSON), standard base64' }),
    signature: Type.String({ minLength: 1, maxLength: MAX_SIGNATURE_CHARS, description: 'Compact JWS with detached payload (header..signature), alg EdDSA' }),
  },
  { additionalProperties: false },
);

export const PushPolicyResponse = Type.Object(
  {
    version: Type.Integer(),
    sha256: Type.String({ description: 'Hex SHA-256 of the bundle bytes' }),
  },
  { additionalProperties: false },
);

export const ActivePolicyBody = Type.Object(
  {
    version: Type.Integer({ description: '0 for the built-in bundle' }),
    issuedAt: Type.String(),
    sha256: Type.String({ description: 'Hex SHA-256 of the bundle bytes' }),
    source: Type.Union([Type.Literal('default'), Type.Literal('pushed')]),
    policies: Type.String({ description: 'Cedar policy text' }),
  },
  { additionalProperties: false },
);

export const policyRoutes: FastifyPluginAsyncTypebox<{ policy: PolicyEngine }> = async (app, { policy }) => {
  app.post(
    '/v1/sys/policy',
    {
      config: { auth: 'token' },
      // Base64 of a 1 MiB bundle, the signature and the JSON around them.
      bodyLimit: BUNDLE_BASE64_CHARS + MAX_SIGNATURE_CHARS + 64 * 1024,
      schema: {
        operationId: 'pushPolicy',
        tags: ['sys'],
        summary: 'Activate a signed Cedar policy bundle (the previous one stays active if anything is wrong with it)',
        body: PushPolicyBody,
        response: responses({ 200: PushPolicyResponse }),
      },
    },
    async (request) => {
      const bytes = fromBase64Strict(request.body.bundle);
      if (bytes === undefined) throw new KeyholdError('KH_POLICY_BUNDLE_MALFORMED', 'The policy bundle is malformed: bundle must be standard base64 of the bundle bytes.');
      return policy.push(bytes, request.body.signature);
    },
  );

  app.get(
    '/v1/sys/policy',
    {
      config: { auth: 'token' },
      schema: { operationId: 'showPolicy', tags: ['sys'], summary: 'The active policy bundle', response: responses({ 200: ActivePolicyBody }) },
    },
    async () => policy.active(),
  );
};
