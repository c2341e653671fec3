/**
 * Vault's HTTP envelope (https://developer.hashicorp.com/vault/api-docs):
 * success answers carry `data` inside the fixed response wrapper; failures are
 * `{ "errors": ["message"] }` with Vault's status codes (400 bad input, 403
 * permission denied, 404 not found, 503 sealed). KeyholdErrors and Fastify's
 * validation errors are translated here, nowhere else.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError, type ErrorCode } from '../../../errors.js';
import { toKeyholdError } from '../../error-handler.js';

/** A refusal whose Vault status or message differs from the KeyholdError it stands for. */
export class TransitError extends KeyholdError {
  readonly vaultStatus: number;
  readonly errors: readonly string[];
  constructor(code: ErrorCode, vaultStatus: number, message: string | undefined) {
    super(code, message);
    this.vaultStatus = vaultStatus;
    this.errors = message === undefined ? [] : [message];
  }
}

/** 400 with a Vault-style message (the KeyholdError code is kept for the audit log). */
export const badRequest = (message: string, code: ErrorCode = 'KH_BAD_REQUEST'): TransitError => new TransitError(code, 400, message);

export const VaultErrorBody = Type.Object({ errors: Type.Array(Type.String()) }, { additionalProperties: false, description: "Vault's error shape" });

/** Response map of a transit route: the Vault envelope around `data`, Vault's error shape otherwise. */
export function vaultResponses(data: TSchema, status = 200): Record<string, TSchema> {
  return {
    [status]: Type.Object(
      {
        request_id: Type.String(),
        lease_id: Type.String(),
        renewable: Type.Boolean(),
        lease_duration: Type.Integer(),
        data,
        wrap_info: Type.Null(),
        warnings: Type.Union([Type.Null(), Type.Array(Type.String())]),
        auth: Type.Null(),
        mount_type: Type.String(),
      },
      { additionalProperties: false },
    ),
    '4xx': VaultErrorBody,
    '5xx': VaultErrorBody,
  };
}

export function envelope<T>(request: FastifyRequest, data: T) {
  return { request_id: request.id, lease_id: '', renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null, mount_type: 'transit' };
}

const PERMISSION_DENIED = new Set<ErrorCode>(['KH_AUTH_PERMISSION_DENIED', 'KH_AUTH_TOKEN_MISSING', 'KH_AUTH_TOKEN_INVALID', 'KH_AUTH_TOKEN_EXPIRED', 'KH_AUTH_SESSION_REVOKED', 'KH_AUTH_CERT_MISMATCH']);

/** Routes on which a missing key is "not found" (404, no message) rather than Vault's 400 "encryption key not found". */
const READS = new Set(['/v1/transit/keys/:name', '/v1/transit/export/:type/:name', '/v1/transit/export/:type/:name/:version']);

/** Vault's status and messages for a failure. */
export function vaultFailure(error: KeyholdError, request: FastifyRequest): { status: number; errors: readonly string[] } {
  if (error instanceof TransitError) return { status: error.vaultStatus, errors: error.errors };
  const code = error.code;
  if (PERMISSION_DENIED.has(code) || code.startsWith('KH_SIG_')) return { status: 403, errors: ['permission denied'] };
  switch (code) {
    case 'KH_SEALED':
      return { status: 503, errors: ['Vault is sealed'] };
    case 'KH_NOT_FOUND':
      return { status: 404, errors: ['unsupported path'] };
    case 'KH_KEY_NOT_FOUND':
      return READS.has(request.routeOptions.url ?? '') && request.method !== 'POST' ? { status: 404, errors: [] } : { status: 400, errors: ['encryption key not found'] };
    case 'KH_KEY_NOT_EXPORTABLE':
      return { status: 400, errors: ['key is not exportable'] };
    case 'KH_KEY_DELETION_NOT_ALLOWED':
      return { status: 400, errors: ['deletion is not allowed for this policy'] };
    case 'KH_DECRYPT_FAILED':
      return { status: 400, errors: ['cipher: message authentication failed'] };
    case 'KH_PAYLOAD_TOO_LARGE':
    case 'KH_INPUT_TOO_LARGE':
      return { status: 413, errors: [error.message] };
    case 'KH_AUTH_LOCKED':
    case 'KH_RATE_LIMITED':
      return { status: 429, errors: [error.message] };
    default:
      break;
  }
  if (error.status >= 500) return { status: error.status === 500 ? 500 : error.status, errors: [error.status === 500 ? 'internal error' : error.message] };
  return { status: 400, errors: [error.message] };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The KH_* code behind a compat-shaped refusal, for the audit log (audit-hooks.ts). */
    refusalCode?: string;
  }
}

/**
 * Vault's exact Content-Type. Clients compare it whole: hvac reads `errors`
 * from a failure only when the header is exactly `application/json`.
 */
export const VAULT_JSON = 'application/json';

export function sendVaultError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const kh = toKeyholdError(error);
  const { status, errors } = vaultFailure(kh, request);
  if (status >= 500 && kh.status >= 500) request.log.error({ code: kh.code, err: kh.cause ?? kh }, 'request failed');
  else request.log.debug({ code: kh.code }, 'request refused');
  request.refusalCode = kh.code;
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type(VAULT_JSON)
    .serializer(JSON.stringify)
    .send({ errors });
}
