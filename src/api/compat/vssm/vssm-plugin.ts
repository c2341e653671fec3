/**
 * VSSM's REST API at /REST/v1/ (docs/compat.md#vssm
 * has the conformance table): a translation over the keys layer, served only
 * where compat.vssm is configured. Encapsulated so its error and not-found
 * handlers answer `{ "error": "..." }` without touching the rest of the API,
 * and so its gates (vssm-auth.ts) apply to its routes alone:
 *   onRequest      a trusted client certificate, or 401 (every route)
 *   preValidation  the administrator password (admin routes), then Cedar
 *                  (action of the /v1 equivalent, apiSurface "vssm"); both
 *                  before the audit's request entry, so it names the caller
 *                  and a refusal is recorded as one.
 * Bodies are JSON whatever the Content-Type says: VSSM's own example sends
 * `curl -d` (application/x-www-form-urlencoded) and VSSM parses it as JSON.
 */
import type { FastifyPluginAsync, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import type { KeyManager } from '../../../keys/key-manager.js';
import type { Barrier } from '../../../barrier/barrier.js';
import type { AuditLog } from '../../../audit/audit-log.js';
import type { PolicyEngine } from '../../../policy/policy-engine.js';
import type { LoginThrottle } from '../../../auth/login-throttle.js';
import type { TransportKey } from '../../../cluster/transport-key.js';
import { authorizeVssm, checkAdminPassword, clientPrincipal } from './vssm-auth.js';
import { jsonDepthExceeds } from '../../json-limits.js';
import { sendVssmError } from './vssm-shape.js';
import { registerServiceRoutes } from './service-routes.js';
import { registerAdminRoutes } from './admin-routes.js';

export const VSSM_PREFIX = '/REST/v1';

export interface VssmOptions {
  keys: KeyManager;
  barrier: Barrier;
  audit: AuditLog;
  policy: Pick<PolicyEngine, 'authorize'>;
  /** VSSM's rootPassword (scrypt hash), if configured. */
  rootPassword: string | undefined;
  throttle: LoginThrottle;
  /** With rpcCertificate: the node's transport key (backups, bootstrap). */
  transport: TransportKey | undefined;
  /** Largest input per operation (limits.maxPlaintextBytes). */
  maxBytes: number;
}

/** A string field of a not-yet-validated body, under its JSON or proto name. */
function field(body: unknown, camel: string, snake: string): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return '';
  const o = body as Record<string, unknown>;
  const v = o[camel] ?? o[snake];
  return typeof v === 'string' ? v : '';
}

/** Register with `{ prefix: VSSM_PREFIX }`. */
export const vssmPlugin: FastifyPluginAsync<VssmOptions> = async (app, options) => {
  app.setErrorHandler((error, request, reply) => sendVssmError(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendVssmError(request, reply, new KeyholdError('KH_NOT_FOUND')));

  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) =>
    jsonDepthExceeds(body as string) ? done(new KeyholdError('KH_BODY_TOO_DEEP'), undefined) : parseJson(request, body as string, done),
  );

  app.addHook('onRequest', async (request) => {
    const vssm = request.routeOptions.config.vssm;
    if (vssm === undefined) return;
    const principal = clientPrincipal(request);
    if (principal === undefined) throw new KeyholdError('KH_AUTH_CERT_REQUIRED', 'the VSSM API needs a client certificate issued by a CA of the client trust store (mTLS)');
    if (vssm.gate === 'client') request.principal = principal;
  });

  app.addHook('preValidation', async (request) => {
    const vssm = request.routeOptions.config.vssm;
    if (vssm === undefined) return;
    // VSSM reads an empty body as the empty message.
    if (request.body === undefined || request.body === null) request.body = {};
    if (vssm.gate === 'bootstrap' || vssm.action === undefined) return;
    const keyName = field(request.body, 'keyName', 'key_name');
    request.vssmKeyName = keyName;
    if (vssm.gate === 'admin') {
      const password = field(request.body, 'adminPassword', 'admin_password');
      request.principal = await checkAdminPassword({ hash: options.rootPassword, throttle: options.throttle }, password, request.ip);
      // The password stays out of the audit log and of everything after this gate.
      const body = request.body as Record<string, unknown>;
      delete body.adminPassword;
      delete body.admin_password;
    }
    const resource = vssm.resource === 'key' || vssm.resource === undefined ? { type: 'Key' as const, id: keyName } : { type: 'System' as const, id: vssm.resource };
    await authorizeVssm(options.policy, request, request.principal!, vssm.action, resource);
  });

  // The audit keeps a few field names' values in the clear (`output` among them, for /v1's formats);
  // VSSM's `output` is plaintext, ciphertext or a signature, so it is recorded under another name (HMAC'd).
  app.addHook('preSerialization', async (request, _reply, payload) => {
    const kept = request.auditPayload as Record<string, unknown> | undefined;
    if (kept !== undefined && typeof kept === 'object' && kept !== null && 'output' in kept) {
      const { output, ...rest } = kept;
      request.auditPayload = { ...rest, outputBytes: output };
    }
    return payload;
  });

  registerServiceRoutes(app, { keys: options.keys, maxBytes: options.maxBytes });
  registerAdminRoutes(app, { keys: options.keys, barrier: options.barrier, audit: options.audit, transport: options.transport, policy: options.policy });
};

/** Whether a router-level failure (before any route is found) concerns a VSSM path, so it answers in VSSM's shape. */
export function isVssmUrl(url: string): boolean {
  return url === VSSM_PREFIX || url.startsWith(`${VSSM_PREFIX}/`) || url.startsWith(`${VSSM_PREFIX}?`);
}

/** Fastify's frameworkErrors for VSSM paths. */
export function vssmFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  void sendVssmError(request, reply, error);
}
