/**
 * The one place errors become HTTP answers: `{ error: { code, message, requestId } }`.
 * KeyholdErrors keep their code and message; Fastify's own 4xx errors map to
 * KH_* codes; anything else is KH_INTERNAL with a fixed message (the detail
 * goes to the log only, and never a stack trace to the caller).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError, type ErrorCode } from '../errors.js';

const FASTIFY_CODES: Record<string, [ErrorCode, string?]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['KH_PAYLOAD_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['KH_UNSUPPORTED_MEDIA_TYPE'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['KH_BAD_REQUEST', 'the request body length does not match content-length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['KH_BAD_REQUEST', 'the request body is empty but content-type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['KH_BAD_REQUEST', 'the request body is not valid JSON'],
  FST_ERR_BAD_URL: ['KH_BAD_REQUEST', 'the request path is not a valid URL'],
  FST_ERR_MAX_PARAM_LENGTH: ['KH_BAD_REQUEST', 'a path parameter is too long'],
  FST_ERR_ASYNC_CONSTRAINT: ['KH_BAD_REQUEST'],
};

/** The arrays that hold a batch's items: /v1's `items`, Vault transit's `batch_input`. */
const BATCH_ARRAY = /^\/(?:items|batch_input)$/;

export function toKeyholdError(error: unknown): KeyholdError {
  if (error instanceof KeyholdError) return error;
  const e = error as Partial<FastifyError> & { type?: string };
  if (e.validation !== undefined) {
    // Batch sizes are schema limits (maxItems), so an oversized batch is refused before any item is parsed further or audited.
    const first = e.validation[0];
    if (first !== undefined && BATCH_ARRAY.test(first.instancePath)) {
      if (first.keyword === 'maxItems') return new KeyholdError('KH_BATCH_TOO_LARGE');
      if (first.keyword === 'minItems') return new KeyholdError('KH_BATCH_EMPTY');
    }
    // An unknown field is named (docs/errors.md promises it), cut short: the name is the caller's.
    const unknown = first?.keyword === 'additionalProperties' ? (first.params as { additionalProperty?: unknown }).additionalProperty : undefined;
    const detail = typeof unknown === 'string' ? `has an unknown field ${JSON.stringify(unknown.slice(0, 64))}` : (first?.message ?? '');
    return new KeyholdError('KH_BAD_REQUEST', `invalid request: ${e.validationContext ?? 'input'}${first?.instancePath ?? ''} ${detail}`.trim());
  }
  const mapped = e.code !== undefined ? FASTIFY_CODES[e.code] : undefined;
  if (mapped !== undefined) return new KeyholdError(mapped[0], mapped[1]);
  if (e instanceof SyntaxError || e.type === 'entity.parse.failed') return new KeyholdError('KH_BAD_REQUEST', 'the request body is not valid JSON');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new KeyholdError(e.statusCode === 413 ? 'KH_PAYLOAD_TOO_LARGE' : e.statusCode === 415 ? 'KH_UNSUPPORTED_MEDIA_TYPE' : 'KH_BAD_REQUEST');
  }
  return new KeyholdError('KH_INTERNAL', undefined, { cause: error });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: KeyholdError): FastifyReply {
  // Serialised here rather than through the route's response schema, so an
  // error on a route whose schema declares the same status (health's 503) still has its body.
  return reply
    .code(error.status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .serializer(JSON.stringify)
    .send({ error: { code: error.code, message: error.message, requestId: request.id } });
}

/**
 * For Fastify's `frameworkErrors` option: router-level failures (malformed
 * percent-escapes, over-long parameters) happen before any hook, so they get
 * the request id and cache header here.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  void sendError(request, reply, toKeyholdError(error));
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const kh = toKeyholdError(error);
    if (kh.status >= 500) request.log.error({ code: kh.code, err: kh.cause ?? kh }, 'request failed');
    else request.log.debug({ code: kh.code }, 'request refused');
    return sendError(request, reply, kh);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new KeyholdError('KH_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`.slice(0, 200))),
  );
}
