/**
 * Per-route policy declared next to each route, checked by hooks.ts:
 * - auth: 'none' is public (status, health, init, unseal, login, JWKS);
 *   'token' needs a valid token and a policy that permits the route's action.
 *   There is no third way: the caller's own session and account (renew,
 *   logout, TOTP enrolment) are asked about too, with the caller as the
 *   resource, so a bundle can forbid them (issue 15 H4).
 * - target: for actions on an identity (actions.ts kinds User, Machine,
 *   Identity, Self), how the route names the identity it acts on; the gate asks
 *   once the body is parsed. Registration fails without it.
 * - allowSealed: answers while sealed (only status, health, init, unseal, rekey bookkeeping).
 * - public ('none') routes are rate-limited per address and their body limits
 *   follow from their schemas (request-limits.ts).
 * A test walks every route and fails when `auth` is missing.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthzTarget } from './route-authz.js';

export type RouteAuth = 'none' | 'token';

/** The identity a route acts on, with its groups (Cedar parents) and, for one being created, the groups it asks for. */
export interface IdentityTarget {
  readonly type: 'User' | 'Machine' | 'Workload';
  readonly id: string;
  readonly groups: readonly string[];
  readonly requestedGroups?: readonly string[];
}

export type TargetResolver = (request: FastifyRequest) => Promise<IdentityTarget> | IdentityTarget;

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    allowSealed?: boolean;
    /** Filled in at registration from the URL and operationId (route-authz.ts). */
    authz?: AuthzTarget;
    /**
     * false for 'none' routes that authenticate each caller themselves (AWS
     * KMS's SigV4, VSSM's client certificates): they are not public, so the
     * per-address limit of public routes (request-limits.ts) does not apply.
     */
    publicRateLimit?: boolean;
    target?: TargetResolver;
  }
}

export {};
