/**
 * Per-route policy declared next to each route, checked by hooks.ts:
 * - auth: 'none' is public (status, health, init, unseal, login, JWKS);
 *   'token' needs a valid token and a policy that permits the route's action;
 *   'self' needs a valid token and acts only on the caller's own session or
 *   account (renew, logout, TOTP enrolment), so no policy is consulted.
 * - allowSealed: answers while sealed (only status, health, init, unseal, rekey bookkeeping).
 * A test walks every route and fails when `auth` is missing.
 */
import type { AuthzTarget } from './route-authz.js';

export type RouteAuth = 'none' | 'token' | 'self';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    allowSealed?: boolean;
    /** Filled in at registration from the URL and operationId (route-authz.ts). */
    authz?: AuthzTarget;
  }
}

export {};
