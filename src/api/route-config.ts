/**
 * Per-route policy declared next to each route, checked by hooks.ts:
 * - auth: 'root' needs a root token; 'none' is public (status, health, init, unseal).
 * - allowSealed: answers while sealed (only status, health, init, unseal, rekey bookkeeping).
 * A test walks every route and fails when `auth` is missing.
 */
export type RouteAuth = 'none' | 'root';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    allowSealed?: boolean;
  }
}

export {};
