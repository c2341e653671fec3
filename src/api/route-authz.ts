/**
 * What a route asks the policy engine about: the action (the operationId,
 * batch variants folded into their single form) and the resource (the key
 * named in the URL, or the area of the system). Computed once per route at
 * registration so a request pays only for the lookup.
 */
import { actionFor, findAction } from '../policy/actions.js';

export type ResourceArea = 'keys' | 'seal' | 'audit' | 'auth' | 'policy' | 'tools';

export interface AuthzTarget {
  readonly action: string;
  readonly batch: boolean;
  /**
   * A fixed System resource, the Key named by the `name` URL parameter, the
   * Secret whose path is the `*` wildcard, or an identity the route names
   * itself (route-config.ts `target`), asked once the body is parsed.
   */
  readonly resource:
    | { readonly type: 'System'; readonly id: ResourceArea }
    | { readonly type: 'Key'; readonly param: 'name' }
    | { readonly type: 'Secret'; readonly param: '*' }
    | { readonly type: 'Target' };
  /** `context.apiSurface` of the policy request: 'v1', or the compatible API the route belongs to. */
  readonly surface: string;
}

/**
 * Vault transit routes (src/api/compat/transit/) ask the policy engine the
 * same question as their /v1 equivalents: operationId -> catalogue action.
 * Batches travel in the same route there (batch_input), so `batch` is false.
 */
export const TRANSIT_ACTIONS: Readonly<Record<string, string>> = Object.freeze({
  transitCreateKey: 'createKey',
  transitListKeys: 'listKeys',
  transitReadKey: 'readKey',
  transitDeleteKey: 'scheduleKeyDeletion',
  transitConfigureKey: 'updateKey',
  transitRotateKey: 'rotateKey',
  transitTrimKey: 'trimKey',
  transitWrappingKey: 'getWrappingKey',
  transitImportKey: 'importKey',
  transitImportKeyVersion: 'importKeyVersion',
  transitExportKey: 'exportKey',
  transitExportKeyVersion: 'exportKey',
  transitEncrypt: 'encrypt',
  transitDecrypt: 'decrypt',
  transitRewrap: 'rewrap',
  transitDataKey: 'generateDataKey',
  transitSign: 'sign',
  transitSignWithHash: 'sign',
  transitVerify: 'verify',
  transitVerifyWithHash: 'verify',
  transitHmac: 'hmac',
  transitHmacWithHash: 'hmac',
  transitRandom: 'random',
  transitRandomBytes: 'random',
  transitHash: 'hash',
  transitHashWithAlgorithm: 'hash',
});

function transitTarget(url: string, operationId: string): AuthzTarget {
  const action = TRANSIT_ACTIONS[operationId];
  const def = action === undefined ? undefined : findAction(action);
  if (def === undefined) throw new TypeError(`transit route ${url} (${operationId}) has no policy action (add it to TRANSIT_ACTIONS)`);
  if (def.resource === 'Key') {
    if (!url.includes('/:name')) throw new TypeError(`transit route ${url} acts on a key but has no :name parameter`);
    return { action: def.id, batch: false, resource: { type: 'Key', param: 'name' }, surface: 'vault-transit' };
  }
  return { action: def.id, batch: false, resource: { type: 'System', id: def.id === 'random' || def.id === 'hash' ? 'tools' : 'keys' }, surface: 'vault-transit' };
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

/**
 * /v1/secrets routes (src/api/v1/secrets/): the resource is the secret path
 * in the URL wildcard. Their operationIds are catalogue actions, except the
 * read with a recipient, which is a readSecret like the plain read.
 */
export const SECRET_OPERATION_ACTIONS: Readonly<Record<string, string>> = Object.freeze({ readSecretForRecipient: 'readSecret' });

function secretTarget(url: string, operationId: string): AuthzTarget {
  const action = actionFor(SECRET_OPERATION_ACTIONS[operationId] ?? operationId);
  if (findAction(action)?.resource !== 'Secret') throw new TypeError(`secret route ${url} (${operationId}) has no Secret action`);
  if (!url.endsWith('/*')) throw new TypeError(`secret route ${url} has no path wildcard`);
  return { action, batch: false, resource: { type: 'Secret', param: '*' }, surface: 'v1' };
}

export function authzTarget(url: string, operationId: string): AuthzTarget {
  if (url.startsWith('/v1/transit/')) return transitTarget(url, operationId);
  if (url.startsWith('/v1/secrets/')) return secretTarget(url, operationId);
  const batch = operationId.endsWith('Batch');
  const action = actionFor(batch ? operationId.slice(0, -'Batch'.length) : operationId);
  if (url.startsWith('/v1/keys/:name')) return { action, batch, resource: { type: 'Key', param: 'name' }, surface: 'v1' };
  const kind = findAction(action)?.resource;
  // Identity management names its target user or machine (M5 of issue 15), never System::"auth".
  if (kind === 'User' || kind === 'Machine' || kind === 'Identity' || kind === 'Self') return { action, batch, resource: { type: 'Target' }, surface: 'v1' };
  const area = AREAS.find(([prefix]) => url.startsWith(prefix));
  if (area === undefined) throw new TypeError(`route ${url} has no resource area for authorization`);
  return { action, batch, resource: { type: 'System', id: area[1] }, surface: 'v1' };
}
