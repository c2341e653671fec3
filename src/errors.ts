/**
 * The one error hierarchy of Keyhold.
 *
 * Every failure a caller can observe is a `KeyholdError` whose `code` is a
 * member of {@link ERROR_CODES}. Codes are stable API: never reuse or rename
 * one, only add. Each code is documented in docs/errors.md (a test enforces it).
 * `message` is safe to show to a caller; anything sensitive belongs in `cause`,
 * which is logged (secret-free) but never sent.
 */

/** code -> HTTP status and the fixed caller-facing summary. */
export const ERROR_CODES = {
  KH_BAD_REQUEST: { status: 400, summary: 'The request does not match the schema of this endpoint.' },
  KH_NOT_FOUND: { status: 404, summary: 'No such route or object.' },
  KH_PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body exceeds the limit of this endpoint.' },
  KH_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request body must be application/json.' },
  KH_SEALED: { status: 503, summary: 'Keyhold is sealed (or not initialized); only status, health, init and unseal answer.' },
  KH_SHUTTING_DOWN: { status: 503, summary: 'The server is shutting down.' },
  KH_ALREADY_INITIALIZED: { status: 409, summary: 'Keyhold is already initialized.' },
  KH_NOT_INITIALIZED: { status: 409, summary: 'Keyhold is not initialized yet.' },
  KH_ALREADY_UNSEALED: { status: 409, summary: 'Keyhold is already unsealed.' },
  KH_SEAL_PARAMS_INVALID: { status: 400, summary: 'Share count and threshold must satisfy 1 <= threshold <= shares <= 255, threshold >= 2 when shares > 1.' },
  KH_UNSEAL_SHARE_MALFORMED: { status: 400, summary: 'The share is not a well-formed Keyhold unseal share.' },
  KH_UNSEAL_SHARE_DUPLICATE: { status: 400, summary: 'This share was already submitted in the current attempt.' },
  KH_UNSEAL_FAILED: { status: 400, summary: 'The submitted shares do not reconstruct the unseal key; progress was reset.' },
  KH_REKEY_NOT_STARTED: { status: 400, summary: 'No rekey is in progress.' },
  KH_REKEY_IN_PROGRESS: { status: 409, summary: 'A rekey is already in progress; cancel it first.' },
  KH_ROOT_GENERATION_NOT_STARTED: { status: 400, summary: 'No root token generation is in progress.' },
  KH_ROOT_GENERATION_IN_PROGRESS: { status: 409, summary: 'A root token generation is already in progress; cancel it first.' },
  KH_ROOT_GENERATION_NONCE_MISMATCH: { status: 400, summary: 'The nonce does not match the root token generation in progress.' },
  KH_REKEY_NONCE_MISMATCH: { status: 400, summary: 'The nonce does not match the rekey in progress.' },
  KH_AUTH_TOKEN_MISSING: { status: 401, summary: 'This endpoint needs a token (Authorization: Bearer or X-Keyhold-Token).' },
  KH_AUTH_TOKEN_INVALID: { status: 401, summary: 'The token is not valid.' },
  KH_AUTH_TOKEN_EXPIRED: { status: 401, summary: 'The access token has expired; renew it or log in again.' },
  KH_AUTH_SESSION_REVOKED: { status: 401, summary: 'The session of this token was revoked or has ended; log in again.' },
  KH_AUTH_LOGIN_FAILED: { status: 401, summary: 'Invalid username or password.' },
  KH_AUTH_LOCKED: { status: 429, summary: 'Too many failed logins; try again later.' },
  KH_AUTH_NOT_CONFIGURED: { status: 400, summary: 'Password login is not configured (auth.admin in the configuration).' },
  KH_AUTH_MFA_REQUIRED: { status: 401, summary: 'This account needs a second factor: send otp (or recoveryCode) with the login.' },
  KH_AUTH_MFA_FAILED: { status: 401, summary: 'The one-time code is wrong, expired or already used.' },
  KH_AUTH_MFA_STATE: { status: 409, summary: 'TOTP is already enrolled, or no enrolment waits for confirmation.' },
  KH_AUTH_SESSION_REQUIRED: { status: 400, summary: 'This needs an access token from a login, not the root token.' },
  KH_AUTH_CERT_REQUIRED: { status: 401, summary: 'This login needs a client certificate trusted by the server (mTLS).' },
  KH_AUTH_CERT_MISMATCH: { status: 401, summary: 'This token is bound to a client certificate that this connection did not present.' },
  KH_AUTH_CHALLENGE_INVALID: { status: 401, summary: 'The login challenge is unknown, expired, already used, or its signature does not verify.' },
  KH_AUTH_PERMISSION_DENIED: { status: 403, summary: "The caller's identity may not do this (policy denies it)." },
  KH_IDENTITY_NOT_FOUND: { status: 404, summary: 'No user or machine identity with this name.' },
  KH_IDENTITY_EXISTS: { status: 409, summary: 'A user or machine identity with this name already exists.' },
  KH_SIG_MISSING: { status: 401, summary: 'This token is bound to a key: the request must carry an RFC 9421 signature (Signature, Signature-Input).' },
  KH_SIG_INVALID: { status: 401, summary: 'The request signature is malformed or does not verify.' },
  KH_SIG_EXPIRED: { status: 401, summary: 'The request signature is expired, not yet valid, or valid for more than 60 seconds.' },
  KH_SIG_REPLAYED: { status: 401, summary: "The request signature's nonce was already used." },
  KH_SIG_KEY_MISMATCH: { status: 401, summary: 'The request was signed by a key other than the one the token is bound to.' },
  KH_SIG_DIGEST_MISMATCH: { status: 401, summary: 'The Content-Digest header is missing or does not match the body.' },
  KH_POLICY_BUNDLE_MALFORMED: { status: 400, summary: 'The policy bundle is not a JSON object with version, issuedAt, policies and entities.' },
  KH_POLICY_SIGNATURE_INVALID: { status: 400, summary: "The policy bundle's signature does not verify; the active bundle is unchanged." },
  KH_POLICY_KEY_UNKNOWN: { status: 400, summary: 'The policy bundle is signed by a key that is not trusted in the configuration; the active bundle is unchanged.' },
  KH_POLICY_ROLLBACK: { status: 409, summary: "The bundle's version is not greater than the active bundle's; the active bundle is unchanged." },
  KH_POLICY_INVALID: { status: 400, summary: "The bundle's Cedar policies, entities or schema do not parse or validate; the active bundle is unchanged." },
  KH_KEY_NOT_FOUND: { status: 404, summary: 'No key with this name.' },
  KH_KEY_EXISTS: { status: 409, summary: 'A key with this name already exists.' },
  KH_KEY_NAME_INVALID: { status: 400, summary: 'Key names are 1-128 characters: letters, digits, ".", "_", "-", starting with a letter or digit.' },
  KH_KEY_TYPE_INVALID: { status: 400, summary: 'Unknown key type.' },
  KH_KEY_OPERATION_UNSUPPORTED: { status: 400, summary: 'This key type does not support this operation.' },
  KH_KEY_OPTION_UNSUPPORTED: { status: 400, summary: 'This option is not valid for this key type.' },
  KH_KEY_DISABLED: { status: 409, summary: 'The key is disabled.' },
  KH_KEY_PENDING_DELETION: { status: 409, summary: 'The key is scheduled for deletion; cancel the deletion to use it.' },
  KH_KEY_VERSION_INVALID: { status: 400, summary: 'The key version does not exist or is outside the allowed range.' },
  KH_KEY_CONFIG_INVALID: { status: 400, summary: 'The key configuration change is not valid.' },
  KH_KEY_NOT_EXPORTABLE: { status: 403, summary: 'The key is not exportable.' },
  KH_KEY_DELETION_NOT_ALLOWED: { status: 400, summary: 'Immediate deletion is not allowed for this key: configure deletion_allowed first (Vault transit), or schedule the deletion.' },
  KH_KEY_LEGACY_REQUIRED: { status: 400, summary: 'This algorithm is allowed only on keys created with legacy: true.' },
  KH_INPUT_INVALID: { status: 400, summary: 'An input field is not valid base64 or has the wrong length.' },
  KH_INPUT_TOO_LARGE: { status: 413, summary: 'An input exceeds the size limit.' },
  KH_CIPHERTEXT_MALFORMED: { status: 400, summary: 'The ciphertext is not of the form keyhold:v<version>:<base64>.' },
  KH_DECRYPT_FAILED: { status: 400, summary: 'decryption failed' },
  KH_SIGNATURE_MALFORMED: { status: 400, summary: 'The signature is not of the form keyhold:v<version>:<base64>.' },
  KH_BATCH_EMPTY: { status: 400, summary: 'A batch needs at least one item.' },
  KH_BATCH_TOO_LARGE: { status: 400, summary: 'A batch holds at most 1000 items.' },
  KH_AUDIT_UNAVAILABLE: { status: 503, summary: 'No audit device could record the request, so it was refused (fail closed).' },
  KH_HSM_MODULE_INVALID: { status: 503, summary: 'The configured PKCS#11 module cannot be loaded (missing file, or not a PKCS#11 library).' },
  KH_HSM_TOKEN_NOT_FOUND: { status: 503, summary: 'No HSM token matches the configured slot or token label.' },
  KH_HSM_LOGIN_FAILED: { status: 503, summary: 'The HSM refused the PIN (or the PIN is locked).' },
  KH_HSM_KEY_NOT_FOUND: { status: 503, summary: 'The HSM has no key with the configured label, and generating one is not allowed.' },
  KH_HSM_UNAVAILABLE: { status: 503, summary: 'The HSM could not be reached or failed mid-operation; the vault stays sealed and retries with backoff.' },
  KH_HSM_OPERATION_FAILED: { status: 502, summary: 'The HSM refused or failed the operation.' },
  KH_HSM_TOKEN_FULL: { status: 507, summary: 'The HSM token has no room for another object.' },
  KH_ENTROPY_UNAVAILABLE: { status: 503, summary: 'Entropy augmentation is required but the HSM could not supply random bytes; nothing was generated (fail closed).' },
  KH_SEAL_MIGRATION_FAILED: { status: 409, summary: 'The seal migration could not be completed; the vault keeps its previous seal.' },
  KH_SEAL_MEASUREMENT_MISMATCH: { status: 503, summary: "This build's measurements (PCR0-2) are not those the enclave seal bound the root key to; the vault stays sealed." },
  KH_RECOVERY_KEY_REQUIRED: { status: 400, summary: 'This vault auto-unseals: this operation needs recovery shares, not unseal shares.' },
  KH_ATTESTATION_MALFORMED: { status: 400, summary: 'The attestation document is not a strict-CBOR COSE_Sign1 of 1 byte to 32 KiB.' },
  KH_ATTESTATION_ALG_UNSUPPORTED: { status: 400, summary: 'The attestation document is not signed with ES384 by a P-384 key.' },
  KH_ATTESTATION_SIGNATURE_INVALID: { status: 400, summary: "The attestation document's signature does not verify." },
  KH_ATTESTATION_CHAIN_INVALID: { status: 400, summary: 'The attestation certificate chain does not lead to a trusted root.' },
  KH_ATTESTATION_CERT_EXPIRED: { status: 400, summary: "A certificate of the attestation chain is not valid at the document's time or now." },
  KH_ATTESTATION_FIELD_INVALID: { status: 400, summary: 'A mandatory attestation field is missing or has the wrong type or size.' },
  KH_ATTESTATION_PCR_MISMATCH: { status: 400, summary: "The attestation document's PCRs are not the expected measurements." },
  KH_ATTESTATION_NONCE_MISMATCH: { status: 400, summary: 'The attestation document does not carry the expected nonce.' },
  KH_ATTESTATION_STALE: { status: 400, summary: 'The attestation document is too old, or dated in the future.' },
  KH_ATTESTATION_PROVIDER_FAILED: { status: 503, summary: 'The attestation provider (NSM device or simulated enclave) could not produce a document.' },
  KH_ATTESTATION_UNAVAILABLE: { status: 404, summary: 'This node has no attestation provider configured.' },
  KH_ATTESTATION_RATE_LIMITED: { status: 429, summary: 'Too many attestation documents requested from this address; try again shortly.' },
  KH_E2E_ENVELOPE_INVALID: { status: 400, summary: 'The channel envelope is malformed: a field is not lowercase hex of the right length.' },
  KH_E2E_KEY_UNKNOWN: { status: 400, summary: 'The channel key named by keyId is unknown or has expired.' },
  KH_E2E_DECRYPT_FAILED: { status: 400, summary: 'The channel request could not be decrypted.' },
  KH_E2E_STALE: { status: 400, summary: "The channel request's ts is more than 60 s away from the server's clock." },
  KH_E2E_REPLAYED: { status: 400, summary: 'This channel request (its ephemeral key) was already received.' },
  KH_E2E_INNER_INVALID: { status: 400, summary: 'The decrypted inner request is not a valid request object, or targets the channel itself.' },
  KH_RELEASE_POLICY_INVALID: { status: 400, summary: 'The release policy is invalid.' },
  KH_RELEASE_RECIPIENT_REQUIRED: { status: 403, summary: 'This key has a release policy: the request must carry a recipient attestation document.' },
  KH_RELEASE_PCR_MISMATCH: { status: 403, summary: "The recipient's PCRs do not match the release policy." },
  KH_RELEASE_MODULE_MISMATCH: { status: 403, summary: "The recipient's module id does not match the release policy." },
  KH_RELEASE_DEBUG_REFUSED: { status: 403, summary: 'The recipient runs in debug mode, which the release policy refuses.' },
  KH_RELEASE_STALE: { status: 403, summary: 'The recipient attestation document is older than the release policy allows, or dated in the future.' },
  KH_RECIPIENT_KEY_UNSUPPORTED: { status: 400, summary: "The recipient document's public_key is missing or is not an RSA (2048-4096) or X25519 key." },
  KH_STORAGE_INTEGRITY: { status: 500, summary: 'A stored record failed its integrity check; it was not used.' },
  KH_STORAGE_FULL: { status: 507, summary: 'The storage backend is full; nothing was written.' },
  KH_STORAGE_UNAVAILABLE: { status: 503, summary: 'The storage backend is unavailable.' },
  KH_STORAGE_CORRUPT: { status: 500, summary: 'The storage file is damaged and cannot be opened.' },
  KH_CONFIG_INVALID: { status: 400, summary: 'The configuration is invalid.' },
  KH_INTERNAL: { status: 500, summary: 'An internal error occurred.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KeyholdError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].summary, options);
    this.name = 'KeyholdError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }
}

export function isKeyholdError(e: unknown): e is KeyholdError {
  return e instanceof KeyholdError;
}
