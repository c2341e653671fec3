/**
 * Enforced at registration: every API route declares `config.auth`, an
 * `operationId` and a response schema, or the server refuses to build.
 * Documentation routes (schema.hide) are exempt. The summaries are kept for
 * tests and for the OpenAPI conformance listing.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

export interface RouteSummary {
  readonly method: string;
  readonly url: string;
  readonly auth: string;
  readonly allowSealed: boolean;
  readonly operationId: string;
}

export function enforceRouteContract(app: FastifyInstance, sink: RouteSummary[]): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as { hide?: boolean; operationId?: string; response?: Record<string, unknown> } | undefined;
    if (schema?.hide === true) return;
    const where = `${String(route.method)} ${route.url}`;
    const auth = route.config?.auth;
    if (auth === undefined) throw new TypeError(`route ${where} declares no config.auth`);
    if (schema?.operationId === undefined) throw new TypeError(`route ${where} has no operationId`);
    if (schema.response === undefined || !Object.keys(schema.response).some((s) => s.startsWith('2'))) throw new TypeError(`route ${where} has no success response schema`);
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      sink.push({ method, url: route.url, auth, allowSealed: route.config?.allowSealed === true, operationId: schema.operationId });
    }
  });
}
