/**
 * The identity each /v1/auth route acts on, for the policy gate (hooks.ts):
 * `Keyhold::User::"name"` or `Keyhold::Machine::"name"` with the identity's
 * current groups as its Cedar parents, so a policy can keep a helpdesk away
 * from administrators (`unless { resource in Keyhold::Group::"admins" }`).
 * An identity being created carries the groups it asks for, also given as
 * context.requestedGroups. An identity that does not exist has no groups
 * (the route then answers 404 if the policy lets the caller ask).
 */
import type { FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import type { AccessKeys } from '../../../auth/access-keys.js';
import type { Machines } from '../../../auth/machines.js';
import type { Users } from '../../../auth/users.js';
import type { IdentityTarget, TargetResolver } from '../../route-config.js';

export interface IdentityDirectory {
  users: Pick<Users, 'read'>;
  machines: Pick<Machines, 'read'>;
}

/** The caller itself: renew, logout, TOTP enrolment. */
export function selfTarget(request: FastifyRequest): IdentityTarget {
  const p = request.principal;
  if (p === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
  return { type: p.type, id: p.id, groups: p.groups };
}

/** An existing identity's groups; none when it does not exist. */
export async function identityGroups(dir: IdentityDirectory, type: 'User' | 'Machine', name: string): Promise<readonly string[]> {
  try {
    return (type === 'User' ? await dir.users.read(name) : await dir.machines.read(name)).groups;
  } catch (e) {
    if (e instanceof KeyholdError && e.code === 'KH_IDENTITY_NOT_FOUND') return [];
    throw e;
  }
}

/** The identity named by the `name` URL parameter. */
export function namedTarget(dir: IdentityDirectory, type: 'User' | 'Machine'): TargetResolver {
  return async (request) => {
    const { name } = request.params as { name: string };
    return { type, id: name, groups: await identityGroups(dir, type, name) };
  };
}

/** An identity being created from the body's name and groups. */
export function newIdentityTarget(type: 'User' | 'Machine'): TargetResolver {
  return (request) => {
    const { name, groups } = request.body as { name: string; groups: string[] };
    return { type, id: name, groups, requestedGroups: groups };
  };
}

/** The identity an access key is created for (body principalType/principalName). */
export function accessKeyOwnerTarget(dir: IdentityDirectory): TargetResolver {
  return async (request) => {
    const { principalType, principalName } = request.body as { principalType: 'User' | 'Machine'; principalName: string };
    return { type: principalType, id: principalName, groups: await identityGroups(dir, principalType, principalName) };
  };
}

/**
 * The identity an existing access key acts as (URL `accessKeyId`).
 * @throws KeyholdError KH_ACCESS_KEY_NOT_FOUND before any policy question: a key id names no identity
 */
export function accessKeyTarget(dir: IdentityDirectory, accessKeys: Pick<AccessKeys, 'owner'>): TargetResolver {
  return async (request) => {
    const owner = await accessKeys.owner((request.params as { accessKeyId: string }).accessKeyId);
    if (owner === undefined) throw new KeyholdError('KH_ACCESS_KEY_NOT_FOUND');
    return { type: owner.principalType, id: owner.principalName, groups: await identityGroups(dir, owner.principalType, owner.principalName) };
  };
}
