/**
 * AWS KMS error answers (JSON 1.1 protocol): HTTP status, the header
 * `x-amzn-ErrorType: <Exception>` and the body `{ "__type": "<Exception>",
 * "message": "..." }`, which the AWS SDKs turn into their exception classes.
 * Every KeyholdError (and Fastify's own errors) is translated here and
 * nowhere else; the KH_* code stays on the request for the audit log.
 * Client faults are 4xx (KMS answers 400 for nearly all of them); only
 * Keyhold's own unavailability is 5xx.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError, type ErrorCode } from '../../../errors.js';
import { toKeyholdError } from '../../error-handler.js';

/** Exception names of the KMS API (and the AWS JSON protocol's common errors) that Keyhold answers with. */
export type KmsException =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'DependencyTimeoutException'
  | 'DisabledException'
  | 'DryRunOperationException'
  | 'IncompleteSignatureException'
  | 'IncorrectKeyException'
  | 'IncorrectKeyMaterialException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidImportTokenException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'InvalidSignatureException'
  | 'KMSInternalException'
  | 'KMSInvalidMacException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidStateException'
  | 'LimitExceededException'
  | 'MissingAuthenticationTokenException'
  | 'NotFoundException'
  | 'SerializationException'
  | 'TagException'
  | 'UnknownOperationException'
  | 'UnrecognizedClientException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

/** A refusal phrased as KMS phrases it; `code` is the KH_* code recorded in the audit log. */
export class KmsError extends KeyholdError {
  readonly exception: KmsException;
  readonly kmsStatus: number;
  constructor(exception: KmsException, message: string, code: ErrorCode = 'KH_BAD_REQUEST', status = 400) {
    super(code, message);
    this.exception = exception;
    this.kmsStatus = status;
  }
}

export const validation = (message: string): KmsError => new KmsError('ValidationException', message, 'KH_BAD_REQUEST');
export const unsupported = (message: string): KmsError => new KmsError('UnsupportedOperationException', message, 'KH_KEY_OPERATION_UNSUPPORTED');
export const invalidKeyUsage = (message: string): KmsError => new KmsError('InvalidKeyUsageException', message, 'KH_KEY_OPERATION_UNSUPPORTED');
export const invalidState = (message: string): KmsError => new KmsError('KMSInvalidStateException', message, 'KH_KEY_CONFIG_INVALID');

/** KH_* code -> KMS exception and status; codes not listed are ValidationException (4xx) or KMSInternalException (5xx). */
const BY_CODE: Partial<Record<ErrorCode, readonly [KmsException, number]>> = {
  KH_NOT_FOUND: ['UnknownOperationException', 400],
  KH_BAD_REQUEST: ['SerializationException', 400],
  KH_UNSUPPORTED_MEDIA_TYPE: ['SerializationException', 400],
  KH_PAYLOAD_TOO_LARGE: ['ValidationException', 400],
  KH_INPUT_TOO_LARGE: ['ValidationException', 400],
  KH_SIGV4_MISSING: ['MissingAuthenticationTokenException', 403],
  KH_SIGV4_MALFORMED: ['IncompleteSignatureException', 400],
  KH_SIGV4_UNKNOWN_ACCESS_KEY: ['UnrecognizedClientException', 400],
  KH_SIGV4_SIGNATURE_MISMATCH: ['InvalidSignatureException', 400],
  KH_SIGV4_EXPIRED: ['InvalidSignatureException', 400],
  KH_SIGV4_SCOPE_INVALID: ['InvalidSignatureException', 400],
  KH_AUTH_PERMISSION_DENIED: ['AccessDeniedException', 400],
  KH_KEY_NOT_FOUND: ['NotFoundException', 400],
  KH_KEY_NAME_INVALID: ['NotFoundException', 400],
  KH_KEY_ALIAS_NOT_FOUND: ['NotFoundException', 400],
  KH_KEY_EXISTS: ['AlreadyExistsException', 400],
  KH_KEY_ALIAS_EXISTS: ['AlreadyExistsException', 400],
  KH_KEY_ALIAS_INVALID: ['InvalidAliasNameException', 400],
  KH_KEY_DISABLED: ['DisabledException', 400],
  KH_KEY_PENDING_DELETION: ['KMSInvalidStateException', 400],
  KH_KEY_PENDING_IMPORT: ['KMSInvalidStateException', 400],
  KH_KEY_OPERATION_UNSUPPORTED: ['InvalidKeyUsageException', 400],
  KH_KEY_OPTION_UNSUPPORTED: ['ValidationException', 400],
  KH_KEY_TYPE_INVALID: ['ValidationException', 400],
  KH_KEY_CONFIG_INVALID: ['ValidationException', 400],
  KH_KEY_VERSION_INVALID: ['InvalidCiphertextException', 400],
  KH_KEY_LEGACY_REQUIRED: ['ValidationException', 400],
  KH_DECRYPT_FAILED: ['InvalidCiphertextException', 400],
  KH_CIPHERTEXT_MALFORMED: ['InvalidCiphertextException', 400],
  KH_IMPORT_TOKEN_INVALID: ['InvalidImportTokenException', 400],
  KH_RELEASE_RECIPIENT_REQUIRED: ['AccessDeniedException', 400],
  KH_RELEASE_PCR_MISMATCH: ['AccessDeniedException', 400],
  KH_RELEASE_MODULE_MISMATCH: ['AccessDeniedException', 400],
  KH_RELEASE_DEBUG_REFUSED: ['AccessDeniedException', 400],
  KH_RELEASE_STALE: ['AccessDeniedException', 400],
  KH_AUTH_LOCKED: ['LimitExceededException', 400],
  KH_ATTESTATION_RATE_LIMITED: ['LimitExceededException', 400],
  KH_RATE_LIMITED: ['LimitExceededException', 400],
  KH_BODY_TOO_DEEP: ['SerializationException', 400],
  // Keyhold itself is unavailable: retryable, as KMS's DependencyTimeoutException.
  KH_SEALED: ['DependencyTimeoutException', 503],
  KH_SHUTTING_DOWN: ['DependencyTimeoutException', 503],
  KH_AUDIT_UNAVAILABLE: ['DependencyTimeoutException', 503],
  KH_STORAGE_UNAVAILABLE: ['DependencyTimeoutException', 503],
  KH_HSM_UNAVAILABLE: ['DependencyTimeoutException', 503],
  KH_ENTROPY_UNAVAILABLE: ['DependencyTimeoutException', 503],
  KH_BUSY: ['DependencyTimeoutException', 503],
};

/** The KMS answer for a failure. Messages are the KeyholdError's (caller-safe); internal faults say only that. */
export function kmsFailure(error: KeyholdError): { status: number; exception: KmsException; message: string } {
  if (error instanceof KmsError) return { status: error.kmsStatus, exception: error.exception, message: error.message };
  const mapped = BY_CODE[error.code];
  if (mapped !== undefined) return { status: mapped[1], exception: mapped[0], message: error.message };
  if (error.code.startsWith('KH_AUTH_') || error.code.startsWith('KH_SIG_')) return { status: 400, exception: 'AccessDeniedException', message: error.message };
  if (error.status >= 500) return { status: 500, exception: 'KMSInternalException', message: error.status === 500 ? 'internal error' : error.message };
  return { status: 400, exception: 'ValidationException', message: error.message };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The KH_* code behind a compat-shaped refusal, for the audit log (audit-hooks.ts). */
    refusalCode?: string;
  }
}

/** Sends `error` in KMS's shape (and logs 5xx causes, never secrets). */
export function sendKmsError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const kh = toKeyholdError(error);
  const { status, exception, message } = kmsFailure(kh);
  if (status >= 500) request.log.error({ code: kh.code, err: kh.cause ?? kh }, 'request failed');
  else request.log.debug({ code: kh.code }, 'request refused');
  request.refusalCode = kh.code;
  return reply
    .code(status)
    .header('x-amzn-requestid', request.id)
    .header('x-amzn-errortype', exception)
    .header('cache-control', 'no-store')
    .type('application/x-amz-json-1.1')
    .serializer(JSON.stringify)
    .send({ __type: exception, message });
}
