/** POST /v1/sys/audit-hash: the HMAC under which a value appears in the audit log (as Vault's sys/audit-hash). */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../../audit/audit-log.js';
import { responses } from '../schemas.js';

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.post(
    '/v1/sys/audit-hash',
    {
      config: { auth: 'root' },
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
};
