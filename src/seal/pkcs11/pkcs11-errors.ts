/**
 * PKCS#11 return values (CK_RV, PKCS#11 v2.40 base spec §5.1) mapped onto
 * Keyhold's error codes.
 *
 * pkcs11js throws a `Pkcs11Error` whose `message` is the CKR_* name (its
 * `method` is empty for the *Async calls, so callers pass the function name
 * they were in). The mapping decides what the client does next:
 *
 * - KH_HSM_UNAVAILABLE: the session, token or library state is gone; the
 *   client drops its sessions and re-initialises on the next call.
 * - KH_HSM_LOGIN_FAILED: the PIN was refused; the client never retries a
 *   PIN by itself (retries could lock the token).
 * - KH_HSM_TOKEN_FULL, KH_HSM_OPERATION_FAILED: this call failed; the
 *   session it used is closed (its operation state is unknown) but the
 *   client stays connected.
 *
 * Messages carry the function and CKR name only: never a PIN, a key or data.
 */
import { KeyholdError, type ErrorCode } from '../../errors.js';

/** Return values that mean the device, token, library or session state is gone. */
const UNAVAILABLE = new Set([
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  // §5.1: "the function hit an unrecoverable error"; SoftHSM2 also answers it
  // for a token whose directory disappeared.
  'CKR_GENERAL_ERROR',
  // The library was finalised behind our back (another user of the module).
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  // Login state is per application and token: it is lost when every session
  // closes (e.g. C_CloseAllSessions elsewhere) or another user logs out.
  'CKR_USER_NOT_LOGGED_IN',
  // The slot vanished after we found it (hot-unplugged reader, HSM restart).
  'CKR_SLOT_ID_INVALID',
]);

/** Return values that mean the PIN was refused. */
const LOGIN = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_LOCKED',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_EXPIRED',
  'CKR_USER_PIN_NOT_INITIALIZED',
]);

/** Return values that mean "this input does not decrypt / verify", not a device fault. */
const BAD_DATA = new Set([
  'CKR_ENCRYPTED_DATA_INVALID',
  'CKR_ENCRYPTED_DATA_LEN_RANGE',
  'CKR_DATA_INVALID',
  'CKR_DATA_LEN_RANGE',
  'CKR_SIGNATURE_INVALID',
  'CKR_SIGNATURE_LEN_RANGE',
  // PKCS#11 v3.0 §5.1, for AEAD tag failures.
  'CKR_AEAD_DECRYPT_FAILED',
]);

/** Stale object handles: the object was destroyed, or the library was re-initialised. */
const STALE_HANDLE = new Set(['CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID']);

/** The CKR_* name of a pkcs11js error, or undefined for anything else. */
export function ckrName(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const m = /^(CKR_[A-Z0-9_]+)$/.exec(error.message);
  return m?.[1];
}

/** The Keyhold code a CKR_* name maps to. */
export function codeForCkr(ckr: string): ErrorCode {
  if (UNAVAILABLE.has(ckr)) return 'KH_HSM_UNAVAILABLE';
  if (LOGIN.has(ckr)) return 'KH_HSM_LOGIN_FAILED';
  if (ckr === 'CKR_DEVICE_MEMORY') return 'KH_HSM_TOKEN_FULL';
  return 'KH_HSM_OPERATION_FAILED';
}

export function isBadData(error: unknown): boolean {
  const ckr = ckrName(error);
  return ckr !== undefined && BAD_DATA.has(ckr);
}

export function isStaleHandle(error: unknown): boolean {
  const ckr = ckrName(error);
  return ckr !== undefined && STALE_HANDLE.has(ckr);
}

/** True for an error after which the client must drop its sessions and re-initialise. */
export function isUnavailable(error: unknown): boolean {
  return error instanceof KeyholdError && error.code === 'KH_HSM_UNAVAILABLE';
}

/**
 * Turns whatever a pkcs11js call threw into a KeyholdError (KeyholdErrors and
 * TypeErrors, our own misuse signals, pass through unchanged).
 *
 * @param fn the PKCS#11 function that failed, for the message (e.g. "C_Login").
 */
export function toKeyholdError(error: unknown, fn: string): Error {
  if (error instanceof KeyholdError || error instanceof TypeError) return error;
  const ckr = ckrName(error);
  if (ckr === undefined) {
    // A NativeError without a return value: pkcs11js could not even make the call.
    return new KeyholdError('KH_HSM_OPERATION_FAILED', `PKCS#11 ${fn} failed`, { cause: error });
  }
  const code = codeForCkr(ckr);
  const what =
    code === 'KH_HSM_UNAVAILABLE'
      ? 'the HSM is unavailable'
      : code === 'KH_HSM_LOGIN_FAILED'
        ? 'the HSM refused the PIN'
        : code === 'KH_HSM_TOKEN_FULL'
          ? 'the HSM token is full'
          : 'the HSM refused the operation';
  return new KeyholdError(code, `PKCS#11 ${fn} failed: ${what} (${ckr})`, { cause: error });
}
