/**
 * Workload login by attestation (src/auth/attest-login.ts; docs/secrets.md
 * "Workload login"): a challenge, then the attestation document carrying it.
 * Both are public routes; failures are throttled per role and address.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../../errors.js';
import type { AccessTokens } from '../../../auth/access-tokens.js';
import type { Sessions } from '../../../auth/sessions.js';
import type { LoginThrottle } from '../../../auth/login-throttle.js';
import type { AttestLogin } from '../../../auth/attest-login.js';
import { fromBase64Strict } from '../../../crypto/bytes.js';
import { MAX_DOCUMENT_BYTES } from '../../../attestation/nitro/verify.js';
import { responses } from '../../schemas.js';
import { IdentityName, TokenBody } from './auth-schemas.js';
import { tokenAnswer } from './token-answer.js';
import { checkThrottle, throttledLogin } from './throttle-check.js';
import type { AttestationRateLimit } from '../../enclave/attestation-rate-limit.js';

export interface AttestLoginDeps {
  attest: AttestLogin;
  sessions: Sessions;
  accessTokens: AccessTokens;
  throttle: LoginThrottle;
  /** Per source address: challenges are held in a bounded table, so a flood must not evict real workloads' ones. */
  challengeRateLimit: AttestationRateLimit;
}

export const attestLoginRoutes: FastifyPluginAsyncTypebox<AttestLoginDeps> = async (app, { attest, sessions, accessTokens, throttle, challengeRateLimit }) => {
  app.get(
    '/v1/auth/attest/challenge',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'attestChallenge',
        tags: ['auth'],
        summary: 'A single-use nonce (60 s) to put in the attestation document of a workload login',
        response: responses({ 200: Type.Object({ nonce: Type.String({ description: 'hex; the document nonce must be these bytes' }), expiresIn: Type.Integer() }, { additionalProperties: false }) }),
      },
    },
    async (request) => {
      challengeRateLimit.take(request.ip);
      return attest.challenge();
    },
  );

  app.post(
    '/v1/auth/attest/login',
    {
      config: { auth: 'none' },
      schema: {
        operationId: 'attestLogin',
        tags: ['auth'],
        summary: 'Log in as a workload with an attestation document; tokens are bound to the key in its public_key',
        description:
          'The document (Nitro format; the simulated enclave only where trusted) must carry an unused challenge as nonce and an Ed25519 or P-256 SPKI public key; its measurements must match auth.attestRoles.<role>.',
        body: Type.Object(
          {
            role: IdentityName,
            attestationDocument: Type.String({ minLength: 1, maxLength: Math.ceil(MAX_DOCUMENT_BYTES / 3) * 4, description: 'base64 COSE_Sign1 attestation document' }),
          },
          { additionalProperties: false },
        ),
        response: responses({ 200: TokenBody }),
      },
    },
    async (request, reply) => {
      const { role, attestationDocument } = request.body;
      // Per address only: an attestation document cannot be guessed, so a per-role count would only let
      // anyone lock a role out with garbage documents. The method stands in for the account, so an address
      // gets the per-account allowance (3) for workload logins as a whole.
      const attempt = { account: 'attest', address: request.ip };
      checkThrottle(throttle, attempt, reply);
      const document = fromBase64Strict(attestationDocument);
      if (document === undefined) throw new KeyholdError('KH_INPUT_INVALID', 'attestationDocument is not base64');
      const login = await throttledLogin(throttle, attempt, reply, () => attest.login(role, document));
      const session = await sessions.create(login.principal, Date.now(), { tokenTtlSeconds: login.tokenTtlSeconds });
      return tokenAnswer(accessTokens, session);
    },
  );
};
