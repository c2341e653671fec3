/**
 * Request gates, in the order of the request path: sealed? -> who?
 * Both run in onRequest and read the route's declared config (route-config.ts); a route that
 * declares nothing is treated as sealed-refused and root-only. A caller is
 * either the root token or an access token (EdDSA JWT) of a live session; until
 * Cedar policies land, both may use every authenticated route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import type { RootTokens } from '../auth/root-token.js';
import type { AccessClaims, AccessTokens } from '../auth/access-tokens.js';
import type { SealManager } from '../seal/seal-manager.js';

/** The token from `Authorization: Bearer` or `X-Keyhold-Token`, if any. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.length > 0) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (m === null) throw new KeyholdError('KH_AUTH_TOKEN_INVALID', 'the Authorization header must be "Bearer <token>"');
    return m[1];
  }
  const header = request.headers['x-keyhold-token'];
  return typeof header === 'string' && header.length > 0 ? header : undefined;
}

/** Who made the request: the root token, or the subject of an access token. */
export type Principal = { kind: 'root' } | ({ kind: 'session' } & AccessClaims);

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function installGates(app: FastifyInstance, deps: { seal: SealManager; tokens: RootTokens; accessTokens: AccessTokens; isShuttingDown: () => boolean }): void {
  // onRequest runs before the body is read or validated: a caller who may not
  // use a route learns nothing about its schema and costs no parsing.
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    if (deps.isShuttingDown()) throw new KeyholdError('KH_SHUTTING_DOWN');
    // Unknown routes (no routeOptions.url) fall through to the 404 handler.
    if (request.routeOptions.url === undefined) return;
    if (config.allowSealed !== true && deps.seal.sealed) throw new KeyholdError('KH_SEALED');
    if (config.auth === 'none') return;
    const token = presentedToken(request);
    if (token === undefined) throw new KeyholdError('KH_AUTH_TOKEN_MISSING');
    if (JWT_SHAPE.test(token)) {
      request.principal = { kind: 'session', ...(await deps.accessTokens.verify(token)) };
      return;
    }
    if (!(await deps.tokens.verify(token))) throw new KeyholdError('KH_AUTH_TOKEN_INVALID');
    request.principal = { kind: 'root' };
  });
}
