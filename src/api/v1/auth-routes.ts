/**
 * /v1/auth: password login (the configured admin), renewal, logout,
 * revocation, introspection (RFC 7662 shape), JWKS and signing-key rotation.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../errors.js';
import type { KeyholdConfig } from '../../config/config-schema.js';
import type { AccessTokens } from '../../auth/access-tokens.js';
import type { Sessions } from '../../auth/sessions.js';
import type { SigningKeys } from '../../auth/signing-keys.js';
import { verifyPassword } from '../../auth/password.js';
import { LoginThrottle } from '../../auth/login-throttle.js';
import type { Totp } from '../../auth/totp.js';
import type { Principal } from '../hooks.js';
import { constantTimeEqual, utf8 } from '../../crypto/bytes.js';
import { responses } from '../schemas.js';

export interface AuthDeps {
  config: KeyholdConfig['auth'];
  sessions: Sessions;
  accessTokens: AccessTokens;
  signingKeys: SigningKeys;
  totp: Totp;
}

const TokenBody = Type.Object(
  { accessToken: Type.String(), tokenType: Type.Literal('Bearer'), expiresIn: Type.Integer(), sessionId: Type.String() },
  { additionalProperties: false },
);

export const authRoutes: FastifyPluginAsyncTypebox<AuthDeps> = async (app, { config, sessions, accessTokens, signingKeys, totp }) => {
  const throttle = new LoginThrottle();
  // Compared against every unknown username so a miss costs the same scrypt work as a hit.
  const decoyHash = '$s0$f0801$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
  const tokenAnswer = async (session: Awaited<ReturnType<Sessions['create']>>) => {
    const { token, expiresAt } = await accessTokens.issue(session);
    return { accessToken: token, tokenType: 'Bearer' as const, expiresIn: Math.max(0, Math.round((expiresAt - Date.now()) / 1000)), sessionId: session.sid };
  };

  app.post(
    '/v1/auth/login',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Log in with a username and password; returns a short-lived access token and a session',
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 128 }),
            password: Type.String({ minLength: 1, maxLength: 1024 }),
            otp: Type.Optional(Type.String({ maxLength: 16, description: 'TOTP code, for accounts with a second factor' })),
            recoveryCode: Type.Optional(Type.String({ maxLength: 64, description: 'one-time recovery code instead of otp' })),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: TokenBody }),
      },
    },
    async (request, reply) => {
      const admin = config.admin;
      if (admin === undefined) throw new KeyholdError('KH_AUTH_NOT_CONFIGURED');
      const { username, password } = request.body;
      const keys = [`user:${username}`, `ip:${request.ip}`];
      try {
        throttle.check(keys);
      } catch (e) {
        const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
        if (retry !== undefined) reply.header('retry-after', String(retry));
        throw e;
      }
      const known = constantTimeEqual(utf8(username.padEnd(128)), utf8(admin.username.padEnd(128)));
      const ok = (await verifyPassword(password, known ? admin.passwordHash : decoyHash)) && known;
      if (!ok) {
        throttle.fail(keys);
        throw new KeyholdError('KH_AUTH_LOGIN_FAILED');
      }
      const amr = ['pwd'];
      if (await totp.required(username)) {
        const { otp, recoveryCode } = request.body;
        if (otp === undefined && recoveryCode === undefined) throw new KeyholdError('KH_AUTH_MFA_REQUIRED');
        const second = await totp.verifySecondFactor(username, { otp, recoveryCode });
        if (second === undefined) {
          throttle.fail(keys);
          throw new KeyholdError('KH_AUTH_MFA_FAILED');
        }
        amr.push(...second);
      }
      throttle.succeed(keys[0]!);
      return tokenAnswer(await sessions.create(username, amr));
    },
  );

  /** The caller's session claims; routes about "my session" refuse the root token. */
  const sessionOf = (request: { principal?: Principal }): Extract<Principal, { kind: 'session' }> => {
    const p = request.principal;
    if (p?.kind !== 'session') throw new KeyholdError('KH_AUTH_SESSION_REQUIRED');
    return p;
  };

  app.post(
    '/v1/auth/totp/enroll',
    {
      config: { auth: 'root' },
      schema: {
        operationId: 'enrollTotp',
        tags: ['auth'],
        summary: "Start TOTP enrolment for the caller's account: secret, otpauth:// URI and recovery codes, shown once",
        response: responses({ 200: Type.Object({ secret: Type.String(), uri: Type.String(), recoveryCodes: Type.Array(Type.String()) }, { additionalProperties: false }) }),
      },
    },
    async (request) => totp.enroll(sessionOf(request).sub),
  );

  app.post(
    '/v1/auth/totp/confirm',
    {
      config: { auth: 'root' },
      schema: {
        operationId: 'confirmTotp',
        tags: ['auth'],
        summary: 'Confirm TOTP enrolment with a first code; from then on logins need a second factor',
        body: Type.Object({ code: Type.String({ maxLength: 16 }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ enrolled: Type.Literal(true) }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      await totp.confirm(sessionOf(request).sub, request.body.code);
      return { enrolled: true as const };
    },
  );

  app.post(
    '/v1/auth/renew',
    {
      config: { auth: 'root' },
      schema: { operationId: 'renewToken', tags: ['auth'], summary: 'A fresh access token for the same (live) session', response: responses({ 200: TokenBody }) },
    },
    async (request) => {
      const session = await sessions.get(sessionOf(request).sid);
      if (session === undefined) throw new KeyholdError('KH_AUTH_SESSION_REVOKED');
      return tokenAnswer(session);
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      config: { auth: 'root' },
      schema: { operationId: 'logout', tags: ['auth'], summary: "Revoke the caller's own session", response: responses({ 200: Type.Object({ revoked: Type.Integer() }, { additionalProperties: false }) }) },
    },
    async (request) => {
      return { revoked: await sessions.revoke({ sid: sessionOf(request).sid }) };
    },
  );

  app.post(
    '/v1/auth/revoke',
    {
      config: { auth: 'root' },
      schema: {
        operationId: 'revokeSessions',
        tags: ['auth'],
        summary: 'Revoke one session, every session of a subject, or all sessions; effective on the next request',
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
      return { revoked: await sessions.revoke('sessionId' in b ? { sid: b.sessionId } : 'subject' in b ? { sub: b.subject } : { all: true }) };
    },
  );

  app.post(
    '/v1/auth/introspect',
    {
      config: { auth: 'root' },
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
        return { active: true, ...(await accessTokens.verify(request.body.token)) };
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
      config: { auth: 'root' },
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
