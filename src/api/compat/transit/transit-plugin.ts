/**
 * Vault's transit secrets engine API at /v1/transit/ (docs/compat.md has the
 * conformance table): a translation over the keys layer, behind the same
 * gates as /v1 (token from X-Vault-Token or Authorization, Cedar policy,
 * audit). Encapsulated so its error and not-found handlers answer in Vault's
 * shape `{ errors: [...] }` without touching the rest of the API.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { RecipientVerifier } from '../../../keys/release/recipient.js';
import { transitKeysRoutes } from './keys-routes.js';
import { transitCryptoRoutes, type TransitLimits } from './crypto-routes.js';
import { transitSignRoutes } from './sign-routes.js';
import { transitToolsRoutes } from './tools-routes.js';
import { transitImportRoutes } from './import-routes.js';
import type { WrappingKey } from '../../../keys/wrapping-key.js';
import { sendVaultError, TransitError, VAULT_JSON } from './vault-shape.js';
import { installVaultBodyParser } from './vault-body.js';
import { ignoreUnknownFields } from './vault-fields.js';
import type { PolicyAsker } from '../../policy-ask.js';

export const TRANSIT_PREFIX = '/v1/transit';
/** Go's strconv.ParseBool true values, as Vault reads `list`. */
const LIST_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

export interface TransitOptions {
  keys: KeyManager;
  limits: TransitLimits;
  recipients: RecipientVerifier;
  wrapping: WrappingKey;
  /** For listings: a key list shows only the keys the caller may readKey. */
  policy: PolicyAsker;
}

/** Register with `{ prefix: TRANSIT_PREFIX }`. */
export const transitPlugin: FastifyPluginAsyncTypebox<TransitOptions> = async (app, { keys, limits, recipients, wrapping, policy }) => {
  app.setErrorHandler((error, request, reply) => sendVaultError(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendVaultError(request, reply, new KeyholdError('KH_NOT_FOUND')));
  // Vault's CLI and Go client write with PUT; Vault treats PUT and POST alike.
  app.addHook('onRoute', (route) => {
    if (route.method === 'POST') route.method = ['POST', 'PUT'];
  });
  installVaultBodyParser(app);
  // Vault takes GET with list=true as LIST (and the LIST method arrives so): a path that cannot be listed answers 405.
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'GET' || request.routeOptions.url === undefined || request.routeOptions.url === `${TRANSIT_PREFIX}/keys`) return;
    const list = (request.query as Record<string, unknown> | undefined)?.list;
    if (typeof list === 'string' && LIST_TRUE.has(list)) throw new TransitError('KH_BAD_REQUEST', 405, 'unsupported operation');
  });
  // Vault takes a POST without a body as an empty request (rotate, random).
  app.addHook('preValidation', async (request) => {
    if ((request.method === 'POST' || request.method === 'PUT') && (request.body === undefined || request.body === null)) request.body = {};
  });
  ignoreUnknownFields(app);
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.getHeader('content-type') === 'application/json; charset=utf-8') reply.header('content-type', VAULT_JSON);
    return payload;
  });
  await app.register(transitKeysRoutes, { keys, policy });
  await app.register(transitImportRoutes, { keys, wrapping });
  await app.register(transitCryptoRoutes, { keys, limits, recipients });
  await app.register(transitSignRoutes, { keys, limits });
  await app.register(transitToolsRoutes);
};

/** Whether a router-level failure (before any route is found) concerns a transit path, so it answers in Vault's shape. */
export function isTransitUrl(url: string): boolean {
  return url === TRANSIT_PREFIX || url.startsWith(`${TRANSIT_PREFIX}/`) || url.startsWith(`${TRANSIT_PREFIX}?`);
}

/** Fastify's frameworkErrors for transit paths (malformed escapes, over-long parameters). */
export function transitFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  void sendVaultError(request, reply, error);
}
