/**
 * Puts every request through the audit log, fail closed:
 * - preHandler (after auth and validation, before anything executes): the
 *   request entry must be durable, or the request is refused with 503
 *   KH_AUDIT_UNAVAILABLE and nothing runs;
 * - onSend: the response entry must be durable, or the answer becomes that
 *   same 503 (the caller never receives a result that is not on record).
 * - onSend, for requests refused before preHandler (authentication,
 *   authorisation, validation): a "refused" entry, best effort, since nothing
 *   was executed; brute force and probing are visible in the log.
 * Requests while sealed are not audited (there is no audit key to hide their
 * values with); they are limited to status, health, init and unseal.
 *
 * The request's own facts (id, method, route, remote address) are captured in
 * onRequest, while its socket is certainly open: a refusal audited after the
 * client went away (malformed framing, a reset) still names them, never
 * `undefined` (issue 15, H1). Client input reaches the log only through
 * redact() and toAuditValue(), which bound its depth and size and never throw
 * (L2); a failure to audit a refusal is logged by its code and message only,
 * never with a stack.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { canonicalJson } from '../audit/canonical-json.js';
import { toAuditValue } from '../audit/audit-value.js';
import type { Barrier } from '../barrier/barrier.js';
import { presentedToken } from './hooks.js';
import { ListMethodSocket } from './http-list-method.js';
import { subjectOf } from '../auth/principal.js';
import type { PolicyDenial } from './denial.js';

/** Read-only probes that would drown the log (load balancers poll them). */
const NOT_AUDITED = new Set(['/v1/sys/health', '/v1/sys/seal-status']);
/**
 * Routes whose bodies carry caller-chosen field names (secret documents):
 * redaction keeps a few field names' values in the clear (`type`, `format`,
 * ...), and a secret may well have a data key named `type`. Their bodies are
 * therefore recorded as one HMAC of the whole JSON.
 */
const OPAQUE_BODY_PREFIX = '/v1/secrets/';
// Serialised within toAuditValue's bounds: JSON.stringify of a client's document could overflow the stack.
const opaque = (request: FastifyRequest, value: unknown): unknown =>
  value !== null && value !== undefined && request.routeOptions.url?.startsWith(OPAQUE_BODY_PREFIX) === true ? canonicalJson(toAuditValue(value)) : value;

/** What is known of a request when it starts; captured then because the socket may be gone by the time it is audited. */
interface RequestFacts {
  requestId: string;
  method: string;
  route: string;
  remoteAddress: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    audited?: boolean;
    /** Set by routes that serve several operations (AWS KMS's POST /): the operation the entry names, e.g. "kms:Encrypt". */
    auditOperation?: string;
    /** The keys such an operation acts on, by name (recorded HMAC'd). */
    auditKeys?: readonly string[];
    /** The response object before serialisation, kept for the response entry. */
    auditPayload?: unknown;
    /** Captured in onRequest. */
    auditFacts?: RequestFacts;
  }
}

export function installAudit(app: FastifyInstance, deps: { audit: AuditLog; barrier: Barrier }): void {
  if (!deps.audit.enabled) return;
  const { audit, barrier } = deps;
  const wanted = (request: FastifyRequest) => {
    const url = request.routeOptions.url;
    return url !== undefined && !url.startsWith('/docs') && !NOT_AUDITED.has(url) && !barrier.sealed;
  };

  // request.ip reads the socket's peer name, which is undefined once the socket is gone
  // (a client that sends a request and closes at once): the address is kept from the connection.
  const peers = new WeakMap<object, string>();
  const remember = (socket: { remoteAddress?: string | undefined }) => {
    if (typeof socket.remoteAddress === 'string') peers.set(socket, socket.remoteAddress);
  };
  app.server.on('connection', remember);
  app.server.on('secureConnection', remember);
  // Installed after the LIST framing view, these listeners get the real socket while requests carry the view's wrapper.
  const peerOf = (socket: object) => peers.get(socket) ?? (socket instanceof ListMethodSocket ? peers.get(socket.raw) : undefined);
  const factsNow = (request: FastifyRequest): RequestFacts => {
    const ip: unknown = request.ip;
    return {
      requestId: String(request.id),
      method: String(request.method),
      route: request.routeOptions.url ?? '',
      remoteAddress: typeof ip === 'string' ? ip : (peerOf(request.raw.socket) ?? null),
    };
  };
  app.addHook('onRequest', async (request) => {
    request.auditFacts = factsNow(request);
  });

  /** What every request-side entry says about the request and its caller (identities HMAC'd). */
  const requestFacts = async (request: FastifyRequest) => ({
    ...(request.auditFacts ?? factsNow(request)),
    operation: request.auditOperation ?? String((request.routeOptions.schema as { operationId?: string } | undefined)?.operationId ?? ''),
    // Inner requests of the end-to-end channel are marked, so an auditor can tell them from direct calls.
    ...(request.channelOrigin !== undefined && { channel: 'e2e' }),
    principal: request.principal === undefined ? null : await audit.hash(subjectOf(request.principal)),
    // Routes that serve many operations (AWS KMS's POST /) name the keys here; key names are HMAC'd like params.
    ...(request.auditKeys !== undefined && { keys: await Promise.all(request.auditKeys.map((k) => audit.hash(k))) }),
  });

  /** Why policy refused (denial.ts): the deciding policy ids in the clear, the resource's id HMAC'd like any client value. */
  const denialFacts = async (d: PolicyDenial) => ({
    action: d.action,
    resourceType: d.resource.type,
    resource: d.resource.type === 'System' ? d.resource.id : await audit.hash(d.resource.id),
    policies: [...d.policies],
    errored: [...d.errored],
    needsMfa: d.needsMfa,
  });

  const recordRefusal = async (request: FastifyRequest, status: number, payload: unknown) => {
    let code: string | null = null;
    try {
      code = typeof payload === 'string' ? ((JSON.parse(payload) as { error?: { code?: string } }).error?.code ?? null) : null;
      // Compat APIs answer in their peer's shape and leave the KH_* code on the request.
      code ??= request.refusalCode ?? null;
    } catch {
      code = null;
    }
    try {
      await audit.record({ type: 'refused', ...(await requestFacts(request)), status, code, ...(request.policyDenial !== undefined && { denial: await denialFacts(request.policyDenial) }) });
    } catch (e) {
      // Nothing ran, so the refusal stands even if it cannot be recorded. Code and message only: no stack for a client's bad input.
      request.log.error({ code: e instanceof KeyholdError ? e.code : 'KH_INTERNAL', reason: e instanceof Error ? e.message : String(e) }, 'audit entry for a refused request failed');
    }
  };

  app.addHook('preHandler', async (request) => {
    if (!wanted(request)) return;
    let token: string | undefined;
    try {
      token = presentedToken(request);
    } catch {
      token = undefined;
    }
    try {
      await audit.record({
        type: 'request',
        ...(await requestFacts(request)),
        token: token === undefined ? null : await audit.hash(token),
        authMethods: request.principal === undefined ? [] : [...request.principal.amr],
        params: await audit.redact(request.params),
        query: await audit.redact(request.query),
        body: await audit.redact(opaque(request, request.body)),
      });
      request.audited = true;
    } catch (e) {
      throw e instanceof KeyholdError && e.code === 'KH_AUDIT_UNAVAILABLE' ? e : new KeyholdError('KH_AUDIT_UNAVAILABLE', undefined, { cause: e });
    }
  });

  // Keep the object as the handler returned it, so onSend need not parse the serialised JSON back.
  app.addHook('preSerialization', async (request, _reply, payload) => {
    if (request.audited === true) request.auditPayload = payload;
    return payload;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (request.audited !== true) {
      if (reply.statusCode >= 400 && wanted(request)) await recordRefusal(request, reply.statusCode, payload);
      return payload;
    }
    request.audited = false;
    const body = barrier.sealed ? null : (request.auditPayload ?? (typeof payload === 'string' ? payload : null));
    try {
      await audit.record({
        type: 'response',
        requestId: request.auditFacts?.requestId ?? String(request.id),
        status: reply.statusCode,
        body: barrier.sealed ? null : await audit.redact(opaque(request, body)),
      });
      return payload;
    } catch (e) {
      request.log.error({ code: e instanceof KeyholdError ? e.code : 'KH_INTERNAL', reason: e instanceof Error ? e.message : String(e) }, 'audit response entry failed; answer withheld');
      const err = new KeyholdError('KH_AUDIT_UNAVAILABLE');
      reply.code(err.status).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({ error: { code: err.code, message: err.message, requestId: request.id } });
    }
  });
}
