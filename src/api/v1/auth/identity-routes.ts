/**
 * /v1/auth/users and /v1/auth/machines: managing the identities that can log
 * in. Deleting an identity or changing a password also revokes its sessions,
 * so the change takes effect on the next request. Each route is authorised
 * on the identity it acts on (identity-targets.ts), and listings show only
 * the identities the caller may read.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Sessions } from '../../../auth/sessions.js';
import type { Totp } from '../../../auth/totp.js';
import type { Users } from '../../../auth/users.js';
import type { Machines } from '../../../auth/machines.js';
import { subjectOf } from '../../../auth/principal.js';
import { responses } from '../../schemas.js';
import { permittedItems, type PolicyAsker } from '../../policy-ask.js';
import { GroupList, IdentityName, NameParams, PublicJwk } from './auth-schemas.js';
import { namedTarget, newIdentityTarget } from './identity-targets.js';

export interface IdentityDeps {
  users: Users;
  machines: Machines;
  sessions: Sessions;
  totp: Totp;
  policy: PolicyAsker;
}

const Password = Type.String({ minLength: 8, maxLength: 1024, description: 'at least 8 characters' });
const UserBody = Type.Object({ name: Type.String(), groups: Type.Array(Type.String()), createdAt: Type.String(), builtIn: Type.Boolean() }, { additionalProperties: false });
const MachineBody = Type.Object(
  { name: Type.String(), publicKeyJwk: Type.Record(Type.String(), Type.String()), jkt: Type.String(), alg: Type.String(), groups: Type.Array(Type.String()), createdAt: Type.String() },
  { additionalProperties: false },
);
const Revoked = Type.Object({ deleted: Type.Literal(true), sessionsRevoked: Type.Integer() }, { additionalProperties: false });

export const identityRoutes: FastifyPluginAsyncTypebox<IdentityDeps> = async (app, { users, machines, sessions, totp, policy }) => {
  const tags = ['identities'];
  const dir = { users, machines };
  const onUser = { auth: 'token', target: namedTarget(dir, 'User') } as const;
  const onMachine = { auth: 'token', target: namedTarget(dir, 'Machine') } as const;

  app.post(
    '/v1/auth/users',
    {
      config: { auth: 'token', target: newIdentityTarget('User') },
      schema: {
        operationId: 'createUser',
        tags,
        summary: 'Create a user who logs in with a password (TOTP can be enrolled after the first login)',
        body: Type.Object({ name: IdentityName, password: Password, groups: GroupList }, { additionalProperties: false }),
        response: responses({ 200: UserBody }),
      },
    },
    async (request) => users.create(request.body.name, request.body.password, request.body.groups),
  );

  app.get(
    '/v1/auth/users',
    { config: { auth: 'token' }, schema: { operationId: 'listUsers', tags, summary: 'Every user the caller may read (readUser), the configured admin included', response: responses({ 200: Type.Object({ users: Type.Array(UserBody) }, { additionalProperties: false }) }) } },
    async (request) => ({ users: await permittedItems(policy, request, 'v1', 'readUser', await users.list(), (u) => ({ type: 'User', id: u.name, groups: u.groups })) }),
  );

  app.get(
    '/v1/auth/users/:name',
    { config: onUser, schema: { operationId: 'readUser', tags, summary: 'One user', params: NameParams, response: responses({ 200: UserBody }) } },
    async (request) => users.read(request.params.name),
  );

  app.post(
    '/v1/auth/users/:name/password',
    {
      config: onUser,
      schema: {
        operationId: 'setUserPassword',
        tags,
        summary: "Set a user's password; the user's sessions are revoked",
        params: NameParams,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ updated: Type.Literal(true), sessionsRevoked: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await users.setPassword(request.params.name, request.body.password);
      return { updated: true as const, sessionsRevoked: await sessions.revoke({ sub: subjectOf({ type: 'User', id: request.params.name }) }) };
    },
  );

  app.post(
    '/v1/auth/users/:name/totp-enrollment',
    {
      config: onUser,
      schema: {
        operationId: 'issueTotpEnrollment',
        tags,
        summary: 'Issue a single-use code (24 h) with which the user enrols TOTP; replaces an unused one. The default policy asks for a second factor',
        params: NameParams,
        response: responses({ 200: Type.Object({ enrollmentCode: Type.String(), expiresAt: Type.String({ description: 'ISO 8601' }) }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await users.read(request.params.name);
      return totp.issueEnrollmentCode(request.params.name);
    },
  );

  app.delete(
    '/v1/auth/users/:name',
    { config: onUser, schema: { operationId: 'deleteUser', tags, summary: 'Delete a user, its second factor and its sessions', params: NameParams, response: responses({ 200: Revoked }) } },
    async (request) => {
      const { name } = request.params;
      await users.delete(name);
      await totp.forget(name);
      return { deleted: true as const, sessionsRevoked: await sessions.revoke({ sub: subjectOf({ type: 'User', id: name }) }) };
    },
  );

  app.post(
    '/v1/auth/machines',
    {
      config: { auth: 'token', target: newIdentityTarget('Machine') },
      schema: {
        operationId: 'createMachine',
        tags,
        summary: 'Register a machine identity by its public key (Ed25519 or P-256; PEM or JWK)',
        body: Type.Object({ name: IdentityName, publicKey: Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), PublicJwk]), groups: GroupList }, { additionalProperties: false }),
        response: responses({ 200: MachineBody }),
      },
    },
    async (request) => machines.create(request.body.name, request.body.publicKey, request.body.groups),
  );

  app.get(
    '/v1/auth/machines',
    { config: { auth: 'token' }, schema: { operationId: 'listMachines', tags, summary: 'Every machine identity the caller may read (readMachine)', response: responses({ 200: Type.Object({ machines: Type.Array(MachineBody) }, { additionalProperties: false }) }) } },
    async (request) => ({ machines: await permittedItems(policy, request, 'v1', 'readMachine', await machines.list(), (m) => ({ type: 'Machine', id: m.name, groups: m.groups })) }),
  );

  app.get(
    '/v1/auth/machines/:name',
    { config: onMachine, schema: { operationId: 'readMachine', tags, summary: 'One machine identity', params: NameParams, response: responses({ 200: MachineBody }) } },
    async (request) => machines.read(request.params.name),
  );

  app.delete(
    '/v1/auth/machines/:name',
    { config: onMachine, schema: { operationId: 'deleteMachine', tags, summary: 'Delete a machine identity and its sessions', params: NameParams, response: responses({ 200: Revoked }) } },
    async (request) => {
      await machines.delete(request.params.name);
      return { deleted: true as const, sessionsRevoked: await sessions.revoke({ sub: subjectOf({ type: 'Machine', id: request.params.name }) }) };
    },
  );
};
