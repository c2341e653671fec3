/**
 * Shared by the enclave tests that check XChaCha20-Poly1305 against the
 * published draft-irtf-cfrg-xchacha-03 A.3.1 example (read through
 * test/helpers/vectors.ts, skipped there when it is not present).
 */
import { readFileSync } from 'node:fs';
import { XCHACHA_DRAFT_A3, assertPresent } from '../helpers/vectors.js';

/** The A.3.1 example's fields, each in hex. */
export interface XChaChaVector {
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}

/** The vector file's path, for failure messages. */
export const XCHACHA_FILE = XCHACHA_DRAFT_A3.path;

/** Reads the A.3.1 example (throws when it is absent: guard the test with `{ skip: XCHACHA_DRAFT_A3.skip }`). */
export const xchachaVector = (): XChaChaVector => JSON.parse(readFileSync(assertPresent(XCHACHA_DRAFT_A3), 'utf8')) as XChaChaVector;
