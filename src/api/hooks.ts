/**
 * Request gates, in the order of the request path:
 *   sealed? -> who? (token, and for bound tokens the request signature or
 *   client certificate) -> may they? (Cedar policy) -> body digest
 * All but the last run in onRequest, before the body is read: a caller who
 * may not use a route learns nothing about its schema and costs no parsing.
 * Each route declares its gate in route-config.ts; the policy question it asks
 * (action, resource) is fixed at registration (route-authz.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import type { RootTokens } from '../auth/root-token.js';
import type { AccessTokens } from '../auth/access-tokens.js';
import type { SealManager } from '../seal/seal-manager.js';
import { sessionPrincipal } from '../auth/sessions.js';
import { hasMfa, ROOT_PRINCIPAL, type Principal } from '../auth/principal.js';
import { checkContentDigest, verifyRequestSignature, type NonceCache } from '../auth/http-signature.js';
import type { AuthorizationRequest, PolicyEngine } from '../policy/policy-engine.js';
import { policyDenied, type SecondFactorEnrolled } from './denial.js';
import { peerCertificate } from './peer-certificate.js';
import { authzTarget } from './route-authz.js';
import { readChannelMarker } from './enclave/channel-marker.js';
import { jsonDepthExceeds } from './json-limits.js';

/** The token from `Authorization: Bearer`, `X-Keyhold-Token` or (for Vault clients) `X-Vault-Token`, if any. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.length > 0) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m === null) throw new KeyholdError('KH_AUTH_TOKEN_INVALID', 'the Authorization header must be "Bearer <token>"');
    return m[1];
  }
  for (const name of ['x-keyhold-token', 'x-vault-token'] as const) {
    const header = request.headers[name];
    if (typeof header === 'string' && header.length > 0) return header;
  }
  return undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set when a signed request has a body: its Content-Digest is checked once the body is read. */
    digestRequired?: boolean;
    rawBody?: Buffer;
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface GateDeps {
  seal: SealManager;
  tokens: RootTokens;
  accessTokens: AccessTokens;
  policy: Pick<PolicyEngine, 'authorize'>;
  nonces: NonceCache;
  isShuttingDown: () => boolean;
  /** Whether a user has a second factor enrolled: only then does a refusal hint that one would be enough (denial.ts). */
  secondFactorEnrolled?: SecondFactorEnrolled;
}

/** The absolute URI the client signed (RFC 9421 @target-uri); through the channel, the outer origin (docs/protocols.md §1). */
function targetUri(request: FastifyRequest): string {
  return `${request.channelOrigin ?? `${request.protocol}://${request.host}`}${request.url}`;
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

async function authenticate(request: FastifyRequest, deps: GateDeps): Promise<Principal> {
  const token = presentedToken(request);
  if (token === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
  if (!JWT_SHAPE.test(token)) {
    if (!(await deps.tokens.verify(token))) throw new KeyholdError('KH_AUTH_TOKEN_INVALID');
    return ROOT_PRINCIPAL;
  }
  const { session } = await deps.accessTokens.verify(token);
  const cnf = session.cnf;
  if (cnf !== undefined && 'jkt' in cnf) {
    // A bound token alone is useless: the request must be signed by the bound key.
    const body = hasBody(request);
    verifyRequestSignature({ method: request.method, targetUri: targetUri(request), headers: request.headers, expectedKeyId: cnf.jkt, publicJwk: cnf.jwk, nonces: deps.nonces, hasBody: body });
    request.digestRequired = body;
  } else if (cnf !== undefined && peerCertificate(request.raw.socket)?.thumbprint !== cnf['x5t#S256']) {
    throw new KeyholdError('KH_AUTH_CERT_MISMATCH');
  }
  return sessionPrincipal(session);
}

export function installGates(app: FastifyInstance, deps: GateDeps): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { hide?: boolean; operationId?: string } | undefined;
    if (schema?.hide === true || route.config?.auth !== 'token' || schema?.operationId === undefined) return;
    const authz = authzTarget(route.url, schema.operationId);
    if (authz.resource.type === 'Target' && route.config.target === undefined) throw new TypeError(`route ${route.url} (${schema.operationId}) acts on an identity but names no target (config.target)`);
    route.config = { ...route.config, authz };
  });

  // Signed requests need the exact body bytes for Content-Digest; the default
  // JSON parser (prototype-poisoning safe) still does the parsing, after a
  // linear depth scan: no route takes deep bodies, and deep values overflow
  // the recursive walks that come after parsing (json-limits.ts).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (jsonDepthExceeds(body as Buffer)) return done(new KeyholdError('KH_BODY_TOO_DEEP'), undefined);
    if (request.digestRequired === true) request.rawBody = body as Buffer;
    parseJson(request, body as unknown as string, done);
  });

  app.addHook('onRequest', async (request) => {
    readChannelMarker(request);
    const config = request.routeOptions.config;
    if (deps.isShuttingDown()) throw new KeyholdError('KH_SHUTTING_DOWN');
    // Unknown routes (no routeOptions.url) fall through to the 404 handler.
    if (request.routeOptions.url === undefined) return;
    // However the path was spelled, the channel does not carry requests to itself.
    if (request.channelOrigin !== undefined && request.routeOptions.url.startsWith('/v1/enclave')) throw new KeyholdError('KH_E2E_INNER_INVALID');
    if (config.allowSealed !== true && deps.seal.sealed) throw new KeyholdError('KH_SEALED');
    if (config.auth === 'none') return;
    const principal = await authenticate(request, deps);
    request.principal = principal;
    const authz = config.authz;
    if (authz === undefined) throw new KeyholdError('KH_INTERNAL', undefined, { cause: new Error(`route ${request.routeOptions.url} has no policy action`) });
    // An identity target may come from the body: asked in preHandler, once the body is parsed and validated.
    if (authz.resource.type === 'Target') return;
    const params = request.params as Record<string, string | undefined>;
    const resource = authz.resource.type === 'System' ? authz.resource : { type: authz.resource.type, id: params[authz.resource.param] ?? '' };
    const asked: AuthorizationRequest = {
      principal,
      action: authz.action,
      resource,
      context: { mfa: hasMfa(principal), authMethods: principal.amr, sourceIp: request.ip, apiSurface: authz.surface, batch: authz.batch, e2e: request.channelOrigin !== undefined },
    };
    const decision = await deps.policy.authorize(asked);
    if (!decision.allowed) throw await policyDenied(deps.policy, request, asked, decision, deps.secondFactorEnrolled);
  });

  app.addHook('preHandler', async (request) => {
    const config = request.routeOptions.config;
    if (config.authz?.resource.type !== 'Target' || config.target === undefined) return;
    const principal = request.principal;
    if (principal === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
    const target = await config.target(request);
    const asked: AuthorizationRequest = {
      principal,
      action: config.authz.action,
      resource: { type: target.type, id: target.id, groups: target.groups },
      context: {
        mfa: hasMfa(principal),
        authMethods: principal.amr,
        sourceIp: request.ip,
        apiSurface: config.authz.surface,
        batch: config.authz.batch,
        e2e: request.channelOrigin !== undefined,
        requestedGroups: target.requestedGroups ?? [],
      },
    };
    const decision = await deps.policy.authorize(asked);
    if (!decision.allowed) throw await policyDenied(deps.policy, request, asked, decision, deps.secondFactorEnrolled);
  });

  app.addHook('preValidation', async (request) => {
    if (request.digestRequired !== true) return;
    if (!checkContentDigest(request.headers['content-digest'] as string | undefined, request.rawBody ?? Buffer.alloc(0))) throw new KeyholdError('KH_SIG_DIGEST_MISMATCH');
  });
}
