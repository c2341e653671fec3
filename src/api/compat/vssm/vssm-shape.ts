/**
 * VSSM's error answer: `{ "error": "<message>" }` (vssm.proto ErrorResponse).
 * VSSM sends it with HTTP 500 for every failure; Keyhold keeps the body but
 * uses the status the failure deserves (400 bad input, 401/403 refused
 * authentication or permission, 404 unknown key or path, 409 conflict, 413
 * too large, 429 throttled, 503 sealed / not bootstrapped), and 500 only for
 * its own faults, with a fixed message. Where VSSM has a message for the same
 * failure, it is VSSM's. KeyholdErrors and Fastify's errors are translated
 * here, nowhere else.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError, type ErrorCode } from '../../../errors.js';
import { toKeyholdError } from '../../error-handler.js';

export const VssmErrorBody = Type.Object({ error: Type.String() }, { additionalProperties: false, description: "VSSM's error shape" });

/** A refusal whose VSSM status or message differs from the KeyholdError it stands for. */
export class VssmError extends KeyholdError {
  readonly vssmStatus: number;
  constructor(code: ErrorCode, vssmStatus: number, message: string) {
    super(code, message);
    this.vssmStatus = vssmStatus;
  }
}

export const vssmBadRequest = (message: string, code: ErrorCode = 'KH_BAD_REQUEST'): VssmError => new VssmError(code, 400, message);

/** VSSM's message for a wrong administrator password (admin_service.go ErrBadPassword). */
export const BAD_PASSWORD = 'Incorrect administrator password.';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key a VSSM request names, for VSSM's "Invalid key name: X". */
    vssmKeyName?: string;
  }
}

interface Ajvish {
  keyword?: string;
  instancePath?: string;
  params?: { additionalProperty?: string };
}

/** A schema failure in protobuf-JSON terms: the unknown or ill-typed field by name. */
function validationMessage(validation: readonly Ajvish[]): string {
  const first = validation[0];
  const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  if (first?.keyword === 'additionalProperties') return `unknown field "${path === '' ? '' : `${path}.`}${first.params?.additionalProperty ?? ''}"`;
  if (path === '') return 'the request body must be a JSON object';
  return `invalid value for field "${path}"`;
}

function failure(error: unknown, request: FastifyRequest): { status: number; message: string; kh: KeyholdError } {
  const validation = (error as { validation?: readonly Ajvish[] }).validation;
  if (validation !== undefined) return { status: 400, message: validationMessage(validation), kh: new KeyholdError('KH_BAD_REQUEST') };
  const kh = toKeyholdError(error);
  if (kh instanceof VssmError) return { status: kh.vssmStatus, message: kh.message, kh };
  switch (kh.code) {
    case 'KH_KEY_NOT_FOUND':
    case 'KH_KEY_NAME_INVALID':
      return { status: 404, message: `Invalid key name: ${request.vssmKeyName ?? ''}`, kh };
    case 'KH_KEY_EXISTS':
      return { status: 409, message: `Key with name ${request.vssmKeyName ?? ''} already exists.`, kh };
    case 'KH_AUTH_LOGIN_FAILED':
      return { status: 401, message: BAD_PASSWORD, kh };
    case 'KH_NOT_FOUND':
      return { status: 404, message: `no VSSM endpoint ${request.method} ${request.url.split('?')[0] ?? ''}`.slice(0, 200), kh };
    default:
      break;
  }
  if (kh.status >= 500) return { status: kh.status, message: kh.status === 500 ? 'internal error' : kh.message, kh };
  return { status: kh.status, message: kh.message, kh };
}

export function sendVssmError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const { status, message, kh } = failure(error, request);
  if (status >= 500 && kh.status >= 500) request.log.error({ code: kh.code, err: kh.cause ?? kh }, 'request failed');
  else request.log.debug({ code: kh.code }, 'request refused');
  request.refusalCode = kh.code;
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').serializer(JSON.stringify).send({ error: message });
}
