/**
 * The CK_RV -> Keyhold code table (pkcs11-errors.ts): which failures make
 * the client reconnect, which stop it from retrying a PIN, and what the
 * messages may contain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import { KeyholdError } from '../../../src/errors.js';
import { ckrName, codeForCkr, isBadData, isStaleHandle, isUnavailable, toKeyholdError } from '../../../src/seal/pkcs11/pkcs11-errors.js';

const pkcs11Error = (ckr: string): Error => new pkcs11js.Pkcs11Error(`${ckr}:${(pkcs11js as unknown as Record<string, number>)[ckr] ?? 0}`);

test('every CKR named in the contract maps to its code', () => {
  const table: Record<string, string> = {
    CKR_PIN_INCORRECT: 'KH_HSM_LOGIN_FAILED',
    CKR_PIN_LOCKED: 'KH_HSM_LOGIN_FAILED',
    CKR_PIN_INVALID: 'KH_HSM_LOGIN_FAILED',
    CKR_PIN_LEN_RANGE: 'KH_HSM_LOGIN_FAILED',
    CKR_PIN_EXPIRED: 'KH_HSM_LOGIN_FAILED',
    CKR_USER_PIN_NOT_INITIALIZED: 'KH_HSM_LOGIN_FAILED',
    CKR_DEVICE_REMOVED: 'KH_HSM_UNAVAILABLE',
    CKR_DEVICE_ERROR: 'KH_HSM_UNAVAILABLE',
    CKR_TOKEN_NOT_PRESENT: 'KH_HSM_UNAVAILABLE',
    CKR_TOKEN_NOT_RECOGNIZED: 'KH_HSM_UNAVAILABLE',
    CKR_SESSION_HANDLE_INVALID: 'KH_HSM_UNAVAILABLE',
    CKR_SESSION_CLOSED: 'KH_HSM_UNAVAILABLE',
    CKR_GENERAL_ERROR: 'KH_HSM_UNAVAILABLE',
    CKR_CRYPTOKI_NOT_INITIALIZED: 'KH_HSM_UNAVAILABLE',
    CKR_USER_NOT_LOGGED_IN: 'KH_HSM_UNAVAILABLE',
    CKR_SLOT_ID_INVALID: 'KH_HSM_UNAVAILABLE',
    CKR_DEVICE_MEMORY: 'KH_HSM_TOKEN_FULL',
    CKR_ARGUMENTS_BAD: 'KH_HSM_OPERATION_FAILED',
    CKR_MECHANISM_INVALID: 'KH_HSM_OPERATION_FAILED',
    CKR_KEY_FUNCTION_NOT_PERMITTED: 'KH_HSM_OPERATION_FAILED',
    CKR_FUNCTION_FAILED: 'KH_HSM_OPERATION_FAILED',
    CKR_HOST_MEMORY: 'KH_HSM_OPERATION_FAILED',
    CKR_OPERATION_ACTIVE: 'KH_HSM_OPERATION_FAILED',
  };
  for (const [ckr, code] of Object.entries(table)) {
    assert.equal(codeForCkr(ckr), code, ckr);
    const err = toKeyholdError(pkcs11Error(ckr), 'C_Test');
    assert.ok(err instanceof KeyholdError);
    assert.equal(err.code, code, ckr);
    assert.match(err.message, new RegExp(`^PKCS#11 C_Test failed: .*\\(${ckr}\\)$`));
    assert.equal(isUnavailable(err), code === 'KH_HSM_UNAVAILABLE', ckr);
  }
});

test('pkcs11js errors are recognised by their CKR name; other errors are not', () => {
  assert.equal(ckrName(pkcs11Error('CKR_PIN_INCORRECT')), 'CKR_PIN_INCORRECT');
  assert.equal(ckrName(new Error('something else')), undefined);
  assert.equal(ckrName('CKR_PIN_INCORRECT'), undefined);
  assert.ok(isBadData(pkcs11Error('CKR_ENCRYPTED_DATA_INVALID')));
  assert.ok(isBadData(pkcs11Error('CKR_SIGNATURE_INVALID')));
  assert.ok(!isBadData(pkcs11Error('CKR_GENERAL_ERROR')));
  assert.ok(isStaleHandle(pkcs11Error('CKR_OBJECT_HANDLE_INVALID')));
  assert.ok(isStaleHandle(pkcs11Error('CKR_KEY_HANDLE_INVALID')));
  assert.ok(!isStaleHandle(pkcs11Error('CKR_SESSION_HANDLE_INVALID')));
  // A native failure without a return value is an operation failure; our own misuse signals pass through.
  const native = toKeyholdError(new pkcs11js.NativeError('PKCS11 module not loaded yet'), 'C_X');
  assert.ok(native instanceof KeyholdError && native.code === 'KH_HSM_OPERATION_FAILED');
  const misuse = new TypeError('bad');
  assert.equal(toKeyholdError(misuse, 'C_X'), misuse);
  const already = new KeyholdError('KH_DECRYPT_FAILED', 'decryption failed');
  assert.equal(toKeyholdError(already, 'C_X'), already);
});
