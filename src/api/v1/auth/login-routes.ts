/**
 * /v1/auth login methods. Each creates a server-side session and returns its
 * first access token:
 * - password (users and the configured admin), with TOTP when enrolled; the
 *   caller may bind the session to a public key it holds (`bindKey`);
 * - machine: sign a fresh server challenge with the registered key; the
 *   tokens are bound to that key;
 * - certificate: the mTLS client certificate is the credential; the tokens
 *   are bound to that certificate.
 * Attempts are throttled per (account, source address) and per source
 * address, counted before the credential is checked (auth/login-throttle.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../../errors.js';
import type { AccessTokens } from '../../../auth/access-tokens.js';
import type { Sessions } from '../../../auth/sessions.js';
import type { LoginThrottle } from '../../../auth/login-throttle.js';
import type { Totp } from '../../../auth/totp.js';
import type { Users } from '../../../auth/users.js';
import type { Machines } from '../../../auth/machines.js';
import { parseClientKey } from '../../../auth/client-key.js';
import { responses } from '../../schemas.js';
import { peerCertificate } from '../../peer-certificate.js';
import { IdentityName, PublicJwk, TokenBody } from './auth-schemas.js';
import { tokenAnswer } from './token-answer.js';
import { checkThrottle, throttledLogin } from './throttle-check.js';

export interface LoginDeps {
  users: Users;
  machines: Machines;
  sessions: Sessions;
  accessTokens: AccessTokens;
  totp: Totp;
  throttle: LoginThrottle;
}

export const loginRoutes: FastifyPluginAsyncTypebox<LoginDeps> = async (app, { users, machines, sessions, accessTokens, totp, throttle }) => {

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
            bindKey: Type.Optional(PublicJwk),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: TokenBody }),
      },
    },
    async (request, reply) => {
      if (!(await users.anyLogin())) throw new KeyholdError('KH_AUTH_NOT_CONFIGURED');
      const { username, password, otp, recoveryCode } = request.body;
      // Counted before scrypt runs: concurrent guesses cannot outrun the throttle (issue 15 M1).
      const { groups, amr } = await throttledLogin(throttle, { account: `user:${username}`, address: request.ip }, reply, async () => {
        const user = await users.authenticate(username, password);
        if (user === undefined) throw new KeyholdError('KH_AUTH_LOGIN_FAILED');
        const methods = ['pwd'];
        if (await totp.required(username)) {
          if (otp === undefined && recoveryCode === undefined) throw new KeyholdError('KH_AUTH_MFA_REQUIRED');
          // Counted per account: only a password holder gets here, and many addresses must not multiply their guesses.
          const second = await throttle.secondFactor(`user:${username}`, () => totp.verifySecondFactor(username, { otp, recoveryCode }), request.log);
          if (second === undefined) throw new KeyholdError('KH_AUTH_MFA_FAILED');
          methods.push(...second);
        }
        return { groups: user.groups, amr: methods };
      });
      const bind = request.body.bindKey === undefined ? undefined : await parseClientKey(request.body.bindKey);
      const session = await sessions.create({ type: 'User', id: username, groups, amr, ...(bind === undefined ? {} : { cnf: { jkt: bind.jkt, jwk: bind.jwk } }) });
      return tokenAnswer(accessTokens, session);
    },
  );

  app.post(
    '/v1/auth/machine/challenge',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'machineChallenge',
        tags: ['auth'],
        summary: 'A single-use challenge (60 s) for a machine identity to sign',
        body: Type.Object({ name: IdentityName }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ challenge: Type.String(), expiresIn: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request, reply) => {
      // Issuing a challenge checks nothing, so it counts nothing; it is refused only while the caller is locked.
      checkThrottle(throttle, { account: `machine:${request.body.name}`, address: request.ip }, reply);
      return machines.challenge(request.body.name);
    },
  );

  app.post(
    '/v1/auth/machine/login',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'machineLogin',
        tags: ['auth'],
        summary: 'Log in as a machine identity with a signed challenge; tokens are bound to its key',
        description: 'Sign UTF-8 "keyhold-machine-login-v1\\n<issuer>\\n<name>\\n<challenge>" with the machine key (Ed25519, or ECDSA P-256/SHA-256 as 64-byte r||s).',
        body: Type.Object(
          { name: IdentityName, challenge: Type.String({ minLength: 1, maxLength: 64 }), signature: Type.String({ minLength: 1, maxLength: 200, description: 'base64 or base64url' }) },
          { additionalProperties: false },
        ),
        response: responses({ 200: TokenBody }),
      },
    },
    async (request, reply) => {
      const { name, challenge, signature } = request.body;
      const machine = await throttledLogin(throttle, { account: `machine:${name}`, address: request.ip }, reply, () => machines.login(name, challenge, signature));
      const session = await sessions.create({ type: 'Machine', id: name, groups: machine.groups, amr: ['swk'], cnf: { jkt: machine.key.jkt, jwk: machine.key.jwk } });
      return tokenAnswer(accessTokens, session);
    },
  );

  app.post(
    '/v1/auth/cert/login',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'certLogin',
        tags: ['auth'],
        summary: 'Log in with the mTLS client certificate of this connection; tokens are bound to the certificate',
        response: responses({ 200: TokenBody }),
      },
    },
    async (request) => {
      const cert = peerCertificate(request.raw.socket);
      if (cert === undefined) throw new KeyholdError('KH_AUTH_CERT_REQUIRED');
      // A registered machine of the same name lends its groups to the certificate identity.
      const groups = await machines.groupsOf(cert.identity);
      const session = await sessions.create({ type: 'Machine', id: cert.identity, groups, amr: ['mtls'], cnf: { 'x5t#S256': cert.thumbprint } });
      return tokenAnswer(accessTokens, session);
    },
  );
};
