/**
 * /v1/auth session routes: TOTP enrolment, renewal, logout, revocation,
 * introspection (RFC 7662 shape), JWKS and signing-key rotation. Login
 * methods are in login-routes.ts.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../../errors.js';
import type { AccessTokens } from '../../../auth/access-tokens.js';
import type { Sessions } from '../../../auth/sessions.js';
import type { SigningKeys } from '../../../auth/signing-keys.js';
import type { Totp } from '../../../auth/totp.js';
import type { RootTokens } from '../../../auth/root-token.js';
import { responses } from '../../schemas.js';
import type { Principal } from '../../../auth/principal.js';
import { TokenBody } from './auth-schemas.js';
import { tokenAnswer } from './token-answer.js';
import { selfTarget } from './identity-targets.js';

export interface SessionDeps {
  sessions: Sessions;
  accessTokens: AccessTokens;
  signingKeys: SigningKeys;
  totp: Totp;
  rootTokens: RootTokens;
}

export const sessionRoutes: FastifyPluginAsyncTypebox<SessionDeps> = async (app, { sessions, accessTokens, signingKeys, totp, rootTokens }) => {
  /** The caller's session; routes about "my session" refuse the root token. */
  const sessionOf = (request: { principal?: Principal }): Principal & { sid: string } => {
    const p = request.principal;
    if (p?.sid === undefined) throw new KeyholdError('KH_AUTH_SESSION_REQUIRED');
    return p as Principal & { sid: string };
  };
  /** TOTP belongs to users (machines prove a key instead). */
  const userOf = (request: { principal?: Principal }): string => {
    const p = sessionOf(request);
    if (p.type !== 'User') throw new KeyholdError('KH_AUTH_SESSION_REQUIRED', 'TOTP is for user accounts');
    return p.id;
  };

  // The caller's own account and session: asked about with the caller as the resource (the default bundle's self-service policy).
  const self = { auth: 'token', target: selfTarget } as const;

  app.post(
    '/v1/auth/totp/enroll',
    {
      config: self,
      schema: {
        operationId: 'enrollTotp',
        tags: ['auth'],
        summary: "Start TOTP enrolment for the caller's account with an administrator's enrolment code: secret, otpauth:// URI and recovery codes, shown once",
        body: Type.Object({ enrollmentCode: Type.String({ minLength: 1, maxLength: 64, description: 'The single-use code from POST /v1/auth/users/{name}/totp-enrollment' }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ secret: Type.String(), uri: Type.String(), recoveryCodes: Type.Array(Type.String()) }, { additionalProperties: false }) }),
      },
    },
    async (request) => totp.enroll(userOf(request), request.body.enrollmentCode),
  );

  app.post(
    '/v1/auth/totp/confirm',
    {
      config: self,
      schema: {
        operationId: 'confirmTotp',
        tags: ['auth'],
        summary: 'Confirm TOTP enrolment with a first code; from then on logins need a second factor',
        body: Type.Object({ code: Type.String({ maxLength: 16 }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ enrolled: Type.Literal(true) }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await totp.confirm(userOf(request), request.body.code);
      return { enrolled: true as const };
    },
  );

  app.post(
    '/v1/auth/renew',
    {
      config: self,
      schema: { operationId: 'renewToken', tags: ['auth'], summary: 'A fresh access token for the same (live) session', response: responses({ 200: TokenBody }) },
    },
    async (request) => {
      const session = await sessions.live(sessionOf(request).sid);
      if (session === undefined) throw new KeyholdError('KH_AUTH_SESSION_REVOKED');
      return tokenAnswer(accessTokens, session);
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      config: self,
      schema: { operationId: 'logout', tags: ['auth'], summary: "Revoke the caller's own session", response: responses({ 200: Type.Object({ revoked: Type.Integer() }, { additionalProperties: false }) }) },
    },
    async (request) => {
      return { revoked: await sessions.revoke({ sid: sessionOf(request).sid }) };
    },
  );

  app.post(
    '/v1/auth/revoke',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'revokeSessions',
        tags: ['auth'],
        summary: 'Revoke one session, every session of a subject, or all sessions and every root token; effective on the next request',
        body: Type.Union([
          Type.Object({ sessionId: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
          Type.Object({ subject: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
          Type.Object({ all: Type.Literal(true) }, { additionalProperties: false }),
        ]),
        response: responses({ 200: Type.Object({ revoked: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      const b = request.body;
      if (!('all' in b)) return { revoked: await sessions.revoke('sessionId' in b ? { sid: b.sessionId } : { sub: b.subject }) };
      // "All" means every credential that is not a share: root tokens too, the caller's own included (issue 15 M7).
      return { revoked: (await sessions.revoke({ all: true })) + (await rootTokens.revokeAll()) };
    },
  );

  app.post(
    '/v1/auth/introspect',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'introspectToken',
        tags: ['auth'],
        summary: 'Is this access token active? (RFC 7662 shape)',
        body: Type.Object({ token: Type.String({ maxLength: 8192 }) }, { additionalProperties: false }),
        response: responses({
          200: Type.Object(
            {
              active: Type.Boolean(),
              sub: Type.Optional(Type.String()),
              sid: Type.Optional(Type.String()),
              amr: Type.Optional(Type.Array(Type.String())),
              exp: Type.Optional(Type.Integer()),
              iat: Type.Optional(Type.Integer()),
              jti: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
        }),
      },
    },
    async (request) => {
      try {
        return { active: true, ...(await accessTokens.verify(request.body.token)).claims };
      } catch (e) {
        if (e instanceof KeyholdError && e.status === 401) return { active: false };
        throw e;
      }
    },
  );

  app.get(
    '/v1/auth/jwks',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'jwks',
        tags: ['auth'],
        summary: 'Public keys that verify access tokens (JWKS)',
        response: responses({ 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }, { additionalProperties: false }) }),
      },
    },
    async () => accessTokens.jwks(),
  );

  app.post(
    '/v1/auth/signing-key/rotate',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'rotateSigningKey',
        tags: ['auth'],
        summary: 'Sign new tokens with a new key; the old key stays in the JWKS for one token lifetime',
        response: responses({ 200: Type.Object({ kid: Type.String() }, { additionalProperties: false }) }),
      },
    },
    async () => ({ kid: (await signingKeys.rotate()).kid }),
  );
};
