/**
 * VSSM's health check on the health port (default 8081, plain HTTP):
 * `GET /REST/v1/healthcheck` answers plain text `running` (200) once the node
 * serves requests, else `bootstrapping` (503): sealed or uninitialised, and
 * with rpcCertificate configured, not yet holding its private key (the API
 * port then still serves the throwaway bootstrap certificate).
 */
import type { FastifyInstance } from 'fastify';
import type { SealManager } from '../../../seal/seal-manager.js';
import type { TransportKey } from '../../../cluster/transport-key.js';

export const VSSM_HEALTH_PATH = '/REST/v1/healthcheck';

export function registerVssmHealth(health: FastifyInstance, deps: { seal: Pick<SealManager, 'sealed'>; transport: TransportKey | undefined }): void {
  health.get(VSSM_HEALTH_PATH, async (_request, reply) => {
    let running = !deps.seal.sealed;
    if (running && deps.transport !== undefined) running = await deps.transport.load().catch(() => false);
    return reply.code(running ? 200 : 503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(running ? 'running' : 'bootstrapping');
  });
}
