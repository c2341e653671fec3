/**
 * The health listener (default 8081, plain HTTP): /health for load balancers
 * (200 unsealed, 503 sealed, 501 uninitialized, as Vault's sys/health) and
 * /metrics for Prometheus. It serves nothing secret.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { SealManager } from '../../seal/seal-manager.js';
import { frameworkErrorHandler, installErrorHandlers } from '../error-handler.js';
import type { Metrics } from './metrics.js';

export function healthStatusCode(status: { initialized: boolean; sealed: boolean }): 200 | 501 | 503 {
  if (!status.initialized) return 501;
  return status.sealed ? 503 : 200;
}

/** The health answer (status code and body) both listeners give. */
export async function healthAnswer(seal: SealManager): Promise<{ status: 200 | 501 | 503; body: { initialized: boolean; sealed: boolean; version: string } }> {
  const s = await seal.status();
  return { status: healthStatusCode(s), body: { initialized: s.initialized, sealed: s.sealed, version: s.version } };
}

export function buildHealthApp(deps: { seal: SealManager; metrics: Metrics }): FastifyInstance {
  const app = Fastify({ logger: false, frameworkErrors: frameworkErrorHandler });
  installErrorHandlers(app);
  app.get('/health', async (_request, reply) => {
    const { status, body } = await healthAnswer(deps.seal);
    return reply.code(status).send(body);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}
