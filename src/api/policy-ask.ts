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

/**
 * Most items one listing request asks the policy about (review of issue 15,
 * finding 1). A caller who may read few of many keys would otherwise make
 * one request evaluate the whole store; past the bound the page ends short
 * and its marker is sealed (list-marker.ts), since the last item scanned may
 * be one the caller cannot read.
 */
export const MAX_LIST_SCAN = 10_000;

/** Where the next page starts: after a visible item (its name is shown), or after an item the caller may not see (sealed before it leaves). */
export type PageContinuation = { readonly visible: string } | { readonly scanned: string };

/**
 * One page of a filtered listing. `sorted` is every candidate after the
 * caller's marker, in marker order. The page holds up to `limit` items the
 * caller may `action`; the continuation names the last *visible* item, and is
 * given only when another visible item follows (looked ahead within the
 * bound), so neither a marker nor the presence of one reveals an item the
 * caller cannot read. When the scan bound ends the page first, the
 * continuation is the last scanned item, for the caller to seal.
 */
export async function permittedPage<T>(
  policy: PolicyAsker,
  request: FastifyRequest,
  apiSurface: string,
  action: string,
  sorted: readonly T[],
  options: { limit: number; nameOf: (item: T) => string; resourceOf: (item: T) => PolicyResource; maxScan?: number },
): Promise<{ items: T[]; next?: PageContinuation }> {
  const principal = principalOf(request);
  const context = policyContext(request, principal, apiSurface);
  const maxScan = options.maxScan ?? MAX_LIST_SCAN;
  const items: T[] = [];
  let scanned = 0;
  for (const item of sorted) {
    if (scanned >= maxScan) {
      const last = items[items.length - 1];
      // A full page ends at its last item; a short one resumes after what was scanned.
      return { items, next: items.length === options.limit && last !== undefined ? { visible: options.nameOf(last) } : { scanned: options.nameOf(sorted[scanned - 1]!) } };
    }
    scanned++;
    if (!(await policy.authorize({ principal, action, resource: options.resourceOf(item), context })).allowed) continue;
    if (items.length === options.limit) return { items, next: { visible: options.nameOf(items[items.length - 1]!) } };
    items.push(item);
  }
  return { items };
}
