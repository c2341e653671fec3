/**
 * Asking the policy engine from inside a route: the request context every
 * surface builds the same way, and listings filtered by the per-item read
 * permission, so a listing never shows what a read of the item would refuse
 * (issue 15 L3).
 */
import type { FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import { hasMfa, type Principal } from '../auth/principal.js';
import type { AuthorizationRequest, PolicyEngine } from '../policy/policy-engine.js';

export type PolicyAsker = Pick<PolicyEngine, 'authorize'>;
export type PolicyResource = AuthorizationRequest['resource'];

/** The request's principal; @throws KeyholdError KH_AUTH_TOKEN_MISSING when the gate did not authenticate it. */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
  return request.principal;
}

/** context of a policy request: the same facts on every surface. */
export function policyContext(request: FastifyRequest, principal: Principal, apiSurface: string, extra: { batch?: boolean; requestedGroups?: readonly string[] } = {}): AuthorizationRequest['context'] {
  return {
    mfa: hasMfa(principal),
    authMethods: principal.amr,
    sourceIp: request.ip,
    apiSurface,
    batch: extra.batch ?? false,
    e2e: request.channelOrigin !== undefined,
    ...(extra.requestedGroups !== undefined && { requestedGroups: extra.requestedGroups }),
  };
}

/** Whether the caller may do `action` on `resource`. */
export async function mayDo(policy: PolicyAsker, request: FastifyRequest, apiSurface: string, action: string, resource: PolicyResource): Promise<boolean> {
  const principal = principalOf(request);
  return (await policy.authorize({ principal, action, resource, context: policyContext(request, principal, apiSurface) })).allowed;
}

/**
 * The items the caller may see: each is asked about with the item's read
 * action. Decisions are cached per (principal, action, item) by the engine,
 * so listing the same page again costs map lookups only; a miss costs one
 * Cedar evaluation (~0.1 ms), and Cedar has no batch call to amortise it.
 */
export async function permittedItems<T>(
  policy: PolicyAsker,
  request: FastifyRequest,
  apiSurface: string,
  action: string,
  items: readonly T[],
  resourceOf: (item: T) => PolicyResource,
): Promise<T[]> {
  const principal = principalOf(request);
  const context = policyContext(request, principal, apiSurface);
  const out: T[] = [];
  for (const item of items) {
    if ((await policy.authorize({ principal, action, resource: resourceOf(item), context })).allowed) out.push(item);
  }
  return out;
}
