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

 * - public ('none') routes are rate-limited per address and their body limits
 *   follow from their schemas (request-limits.ts).
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
    /**
     * false for 'none' routes that authenticate each caller themselves (AWS
     * KMS's SigV4, VSSM's client certificates): they are not public, so the
     * per-address limit of public routes (request-limits.ts) does not apply.
     */
    publicRateLimit?: boolean;
