/**
 * What a route asks the policy engine about: the action (the operationId,
 * batch variants folded into their single form) and the resource (the key
 * named in the URL, or the area of the system). Computed once per route at
 * registration so a request pays only for the lookup.
 */
import { actionFor } from '../policy/actions.js';

export type ResourceArea = 'keys' | 'seal' | 'audit' | 'auth' | 'policy' | 'tools';

export interface AuthzTarget {
  readonly action: string;
  readonly batch: boolean;
  /** Either a fixed System resource, or the Key named by the `name` URL parameter. */
  readonly resource: { readonly type: 'System'; readonly id: ResourceArea } | { readonly type: 'Key'; readonly param: 'name' };
}

const AREAS: readonly [string, ResourceArea][] = [
  ['/v1/sys/audit', 'audit'],
  ['/v1/sys/policy', 'policy'],
  ['/v1/sys/tools', 'tools'],
  ['/v1/auth', 'auth'],
  ['/v1/keys', 'keys'],
  ['/v1/wrapping-key', 'keys'],
  ['/v1/sys', 'seal'],
];

export function authzTarget(url: string, operationId: string): AuthzTarget {
  const batch = operationId.endsWith('Batch');
  const action = actionFor(batch ? operationId.slice(0, -'Batch'.length) : operationId);
  if (url.startsWith('/v1/keys/:name')) return { action, batch, resource: { type: 'Key', param: 'name' } };
  const area = AREAS.find(([prefix]) => url.startsWith(prefix));
  if (area === undefined) throw new TypeError(`route ${url} has no resource area for authorization`);
  return { action, batch, resource: { type: 'System', id: area[1] } };
}
