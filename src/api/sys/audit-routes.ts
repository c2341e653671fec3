/**
 * Audit tools (as Vault's sys/audit-hash):
 * - POST /v1/sys/audit-hash: the HMAC under which a value appears in the audit log;
 * - GET /v1/sys/audit/public-key: the Ed25519 key that signs audit checkpoints,
 *   for operators to pin and pass to `keyhold audit verify --public-key`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../../audit/audit-log.js';
import { responses } from '../schemas.js';

const PublicKeyBody = Type.Object(
  {
    algorithm: Type.Literal('Ed25519'),
    kid: Type.String({ description: 'base64url SHA-256 of the SPKI DER; each checkpoint names its key by it' }),
    publicKey: Type.String({ description: 'PEM (SPKI)' }),
  },
  { additionalProperties: false },
);

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.post(
    '/v1/sys/audit-hash',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'auditHash',
        tags: ['sys'],
        summary: 'HMAC of a value as the audit log records it, to search the log for a known name or value',
        body: Type.Object({ input: Type.String({ maxLength: 65536 }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ hash: Type.String() }, { additionalProperties: false }) }),
      },
    },
    async (request) => ({ hash: await audit.hash(request.body.input) }),
  );
  app.get(
    '/v1/sys/audit/public-key',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'auditPublicKey',
        tags: ['sys'],
        summary: 'Public key that signs audit checkpoints, to pin for offline verification',
        response: responses({ 200: PublicKeyBody }),
      },
    },
    async () => ({ algorithm: 'Ed25519' as const, ...(await audit.signingKey.publicKey()) }),
  );
};
