/**
 * Shared by the PKCS#11 client tests: a fresh SoftHSM2 token with a client
 * logged in to it (closed when the test ends), a fault injector that reaches
 * the same Cryptoki state behind the client's back, and error assertions.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import pkcs11js from 'pkcs11js';
import { KeyholdError, type ErrorCode } from '../../../src/errors.js';
import { Pkcs11Client, type Pkcs11OpenOptions } from '../../../src/seal/pkcs11/pkcs11-client.js';
import { softHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';
import { WYCHEPROOF_SOURCE, assertPresent, publishedVectors, type PublishedVectors } from '../../helpers/vectors.js';

export interface TestHsm {
  client: Pkcs11Client;
  token: SoftHsmToken;
}

/** A new token and a client on it, or null when the test was skipped (SoftHSM2 missing outside CI). */
export async function openTestHsm(t: TestContext, options: Partial<Pkcs11OpenOptions> = {}): Promise<TestHsm | null> {
  const token = softHsmToken(t);
  if (!token) return null;
  const client = await Pkcs11Client.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, ...options });
  t.after(() => client.close());
  return { client, token };
}

/**
 * A second pkcs11js object on the same library file. dlopen() hands it the
 * very Cryptoki state the client uses, so its C_CloseAllSessions /
 * C_Finalize are real faults as the client sees them.
 */
export function faultInjector(token: SoftHsmToken): { api: pkcs11js.PKCS11; slot: Buffer } {
  const api = new pkcs11js.PKCS11();
  api.load(token.module);
  try {
    api.C_Initialize();
  } catch (error) {
    if ((error as Error).message !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw error;
  }
  const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === token.tokenLabel);
  assert.ok(slot, 'the injector sees the token');
  return { api, slot };
}

/** Asserts that `caught` is a KeyholdError of `code` (and a message matching `message`). */
function assertKeyholdError(caught: unknown, code: ErrorCode, message?: RegExp): KeyholdError {
  assert.ok(caught instanceof KeyholdError, `expected KeyholdError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Asserts that `promise` rejects with a KeyholdError of `code` (and a message matching `message`). */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<KeyholdError> {
  let caught: unknown;
  await assert.rejects(promise, (e: unknown) => {
    caught = e;
    return true;
  });
  return assertKeyholdError(caught, code, message);
}

/** Asserts that `fn` throws a KeyholdError of `code` (and a message matching `message`). */
export function throwsWith(fn: () => unknown, code: ErrorCode, message?: RegExp): KeyholdError {
  let caught: unknown;
  assert.throws(fn, (e: unknown) => {
    caught = e;
    return true;
  });
  return assertKeyholdError(caught, code, message);
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * One published Wycheproof file (C2SP/wycheproof, not carried here: see
 * test/helpers/vectors.ts); its `skip` goes to node:test. Kept apart from
 * test/keys/vectors/wycheproof.ts so these tests do not load the vault's key
 * manager.
 */
export function wycheproofFile(file: string): PublishedVectors {
  return publishedVectors(`wycheproof/${file}`, WYCHEPROOF_SOURCE);
}

/** Reads a Wycheproof file; absent, it throws the one-line reason (what is missing, where it is published). */
export function readWycheproof<T>(file: string): T {
  return JSON.parse(readFileSync(assertPresent(wycheproofFile(file)), 'utf8')) as T;
}
