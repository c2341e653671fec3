/**
 * Inner requests of the end-to-end channel (docs/protocols.md §1): checked, then
 * dispatched through `inject()` into the same route table, so they pass the
 * same gates (sealed, authentication, request signatures, Cedar policy), the
 * same schemas and the same audit as direct calls.
 *
 * Choices where §1 leaves room, documented in docs/e2e-channel.md:
 * - header names are lower-cased; only the headers a direct call would use
 *   for credentials and signatures are forwarded;
 * - a body is dispatched as its compact JSON serialization
 *   (JSON.stringify), and that is what a Content-Digest must cover;
 * - the answer carries `content-type` and `x-request-id`, and `body` is the
 *   parsed JSON, a string for non-JSON answers, or null when empty.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyholdError } from '../../errors.js';
import { isRecord, type InnerResponse } from '../../crypto/e2e/protocol.js';
import { CHANNEL_HEADER, channelMarker } from './channel-marker.js';

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Credentials and signature headers; anything else a client sends inside is dropped. */
const FORWARDED = new Set(['authorization', 'x-keyhold-token', 'signature', 'signature-input', 'content-digest', 'accept']);
const MAX_PATH = 2048;
const MAX_HEADERS = 16;
const MAX_HEADER_VALUE = 16 * 1024;
/** What an inner request adds to its body at most: method, path, headers, ts and the JSON around them. */
export const MAX_INNER_WRAPPING_BYTES = MAX_PATH + MAX_HEADERS * (MAX_HEADER_VALUE + 256) + 4096;
/** Printable ASCII without space, '#' or '\': an origin-form request target. */
const PATH_SHAPE = /^\/[!-~]*$/;

export interface InnerCall {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly ts: number;
}

function invalid(detail: string): never {
  throw new KeyholdError('KH_E2E_INNER_INVALID', undefined, { cause: new Error(detail) });
}

/** A request to the channel from inside the channel would only nest envelopes. */
export function isChannelPath(path: string): boolean {
  return /^\/v1\/enclave(?:[/?]|$)/i.test(path);
}

/** @throws KeyholdError KH_E2E_INNER_INVALID */
export function parseInner(value: unknown): InnerCall {
  if (!isRecord(value)) invalid('not an object');
  const { method, path, headers, body, ts } = value;
  for (const key of Object.keys(value)) if (!['method', 'path', 'headers', 'body', 'ts'].includes(key)) invalid(`unknown field ${key}`);
  if (typeof method !== 'string' || !METHODS.has(method.toUpperCase())) invalid('method');
  if (typeof path !== 'string' || path.length > MAX_PATH || !PATH_SHAPE.test(path) || path.includes('#') || path.includes('\\')) invalid('path');
  if (!path.startsWith('/v1/') || isChannelPath(path) || /(?:^|\/)\.\.?(?:\/|\?|$)/.test(path) || path.includes('//')) invalid('path target');
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) invalid('ts');
  const forwarded: Record<string, string> = {};
  if (headers !== undefined) {
    if (!isRecord(headers) || Object.keys(headers).length > MAX_HEADERS) invalid('headers');
    for (const [name, v] of Object.entries(headers)) {
      if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || !/^[\t\x20-\x7e]*$/.test(v)) invalid(`header ${name}`);
      const lower = name.toLowerCase();
      if (FORWARDED.has(lower)) forwarded[lower] = v;
    }
  }
  return { method: method.toUpperCase(), path, headers: forwarded, body, ts };
}

/** The origin the client addressed (docs/protocols.md §1: the authority of an inner signature's @target-uri). */
export function outerOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export async function dispatchInner(app: FastifyInstance, outer: FastifyRequest, call: InnerCall): Promise<InnerResponse> {
  const hasBody = call.body !== undefined && call.body !== null && call.method !== 'GET' && call.method !== 'DELETE';
  const res = await app.inject({
    method: call.method as 'GET',
    url: call.path,
    headers: {
      ...call.headers,
      host: outer.host,
      [CHANNEL_HEADER]: channelMarker(outerOrigin(outer)),
      ...(hasBody && { 'content-type': 'application/json' }),
    },
    ...(hasBody && { payload: JSON.stringify(call.body) }),
    remoteAddress: outer.ip,
  });
  const contentType = res.headers['content-type'];
  const headers: Record<string, string> = {};
  if (typeof contentType === 'string') headers['content-type'] = contentType;
  const requestId = res.headers['x-request-id'];
  if (typeof requestId === 'string') headers['x-request-id'] = requestId;
  let body: unknown = null;
  if (res.payload.length > 0) {
    if (typeof contentType === 'string' && contentType.startsWith('application/json')) {
      try {
        body = JSON.parse(res.payload) as unknown;
      } catch {
        body = res.payload;
      }
    } else {
      body = res.payload;
    }
  }
  return { status: res.statusCode, headers, body };
}
