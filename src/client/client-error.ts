/** What the SDK throws: the server's error code when it answered, or a client-side code. */
export type ClientErrorCode =
  | 'KH_CLIENT_ATTESTATION_REFUSED'
  | 'KH_CLIENT_CHANNEL_FAILED'
  | 'KH_CLIENT_RESPONSE_INVALID'
  | (string & Record<never, never>);

export class KeyholdClientError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status of the (inner) answer; 0 when the failure is on the client side. */
  readonly status: number;
  readonly requestId: string | undefined;

  constructor(code: ClientErrorCode, message: string, options: { status?: number; requestId?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyholdClientError';
    this.code = code;
    this.status = options.status ?? 0;
    this.requestId = options.requestId;
  }
}
