/**
 * Bounds on the work a request can cause before anyone knows who sent it
 * (issue 15 M3/M4), installed on the API app before any route:
 * - body limits follow from schemas: a route's limit is never more than the
 *   longest JSON its body schema accepts (json-limits.ts) plus slack for
 *   whitespace, and a public route without a body schema takes 1 KiB;
 * - every public route (auth 'none', unknown paths included) counts against
 *   a per-address token bucket (address-rate-limit.ts), before its body is read;
 * - a body over 64 KiB must fit in the large-body budget (body-budget.ts)
 *   before its first byte is read; for token routes that is after the token
 *   and policy gates (hooks.ts, onRequest), so strangers reach it only on
 *   public routes.
 * Refusals carry Retry-After: 429 KH_RATE_LIMITED, 503 KH_BUSY.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import { AddressRateLimit, addressKey } from './address-rate-limit.js';
import { BodyBudget } from './body-budget.js';
import { jsonSizeBound } from './json-limits.js';

/** Bodies up to this size never wait on the budget. */
export const SMALL_BODY_BYTES = 64 * 1024;
/** A public route without a body schema still gets `{}` or a few fields. */
export const SCHEMALESS_PUBLIC_BODY_LIMIT = 1024;
/** Room for whitespace and indentation around the compact JSON a schema bounds. */
const WHITESPACE_SLACK = 16 * 1024;

export interface RequestLimitOptions {
  readonly publicRequests: { readonly burst: number; readonly perSecond: number };
  readonly largeBodyBudgetBytes: number;
  /** The app's default body limit (Fastify's bodyLimit option). */
  readonly defaultBodyLimit: number;
}

export interface RequestLimits {
  readonly budget: BodyBudget;
  /** The largest body limit of a route an inner request of the end-to-end channel can reach (/v1/ except /v1/enclave). */
  largestInnerBodyLimit(): number;
}

function isPublic(request: FastifyRequest): boolean {
  const config = request.routeOptions.config;
  // Unknown paths (the 404 handler) are public too: probing them is not free either.
  if (request.routeOptions.url === undefined) return true;
  return config.auth === 'none' && config.publicRateLimit !== false;
}

function refuse(reply: FastifyReply, error: KeyholdError, retryAfterSeconds: number, close = false): never {
  reply.header('retry-after', String(retryAfterSeconds));
  // A refused large body is not read: closing the connection spares the event loop draining it.
  if (close) reply.header('connection', 'close');
  throw error;
}

/**
 * Calls `release` once, when the answer is done or the connection dies, whichever comes first:
 * - the response's 'close' covers an answer sent and a connection lost while this request owns it;
 * - the connection's 'close' covers a pipelined request whose response is still queued behind an
 *   earlier one (Node gives a queued response no 'close' when the connection dies);
 * - a connection that died while the onRequest hooks ran (a framing error llhttp finds after the
 *   head, a client that hung up) is already closed: release now.
 * Both listeners are removed at release, so keep-alive connections do not collect them. Requests
 * dispatched in-process (the end-to-end channel's inner requests through inject()) have a mock
 * socket that never closes: their response's 'close' releases them.
 */
function holdUntilDone(request: FastifyRequest, reply: FastifyReply, release: () => void): void {
  const socket = request.raw.socket as (typeof request.raw.socket & { destroyed?: boolean }) | null;
  if (reply.raw.destroyed === true || request.raw.destroyed === true || socket?.destroyed === true) {
    release();
    return;
  }
  const done = () => {
    reply.raw.off('close', done);
    socket?.off('close', done);
    release();
  };
  reply.raw.once('close', done);
  socket?.once('close', done);
}

export function installRequestLimits(app: FastifyInstance, options: RequestLimitOptions): RequestLimits {
  const rate = new AddressRateLimit(options.publicRequests);
  const budget = new BodyBudget(SMALL_BODY_BYTES, options.largeBodyBudgetBytes);
  let largestInner = 0;

  app.addHook('onRoute', (route) => {
    const body = (route.schema as { body?: unknown } | undefined)?.body;
    const declared = route.bodyLimit ?? options.defaultBodyLimit;
    let limit = declared;
    if (body !== undefined) {
      const bound = jsonSizeBound(body);
      if (Number.isFinite(bound)) limit = Math.min(declared, Math.ceil(bound) + WHITESPACE_SLACK);
    } else if (route.config?.auth === 'none' && route.bodyLimit === undefined) {
      limit = SCHEMALESS_PUBLIC_BODY_LIMIT;
    }
    if (limit !== declared || route.bodyLimit === undefined) route.bodyLimit = limit;
    if (route.url.startsWith('/v1/') && !route.url.startsWith('/v1/enclave')) largestInner = Math.max(largestInner, limit);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.channelOrigin !== undefined || !isPublic(request)) return;
    const wait = rate.take(request.ip);
    if (wait !== undefined) refuse(reply, new KeyholdError('KH_RATE_LIMITED'), wait);
  });

  app.addHook('preParsing', async (request, reply, payload) => {
    const length = request.headers['content-length'];
    const limit = request.routeOptions.bodyLimit ?? options.defaultBodyLimit;
    // A chunked body (no length) may grow to the route limit; a declared length over the limit is refused by Fastify unread.
    const declared = length === undefined ? (request.headers['transfer-encoding'] === undefined ? 0 : limit) : Number(length);
    if (!Number.isFinite(declared) || declared <= SMALL_BODY_BYTES || declared > limit) return payload;
    const release = budget.reserve(addressKey(request.ip), declared);
    if (release === undefined) refuse(reply, new KeyholdError('KH_BUSY'), 1, true);
    holdUntilDone(request, reply, release);
    return payload;
  });

  return { budget, largestInnerBodyLimit: () => largestInner };
}
