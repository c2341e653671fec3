/** Shared by the Nitro verification tests: the assertion that a document is refused with one AttestationError code. */
import assert from 'node:assert/strict';
import { verifyNitroDocument, type VerifyNitroOptions } from '../../src/attestation/nitro/verify.js';
import { AttestationError, type AttestationErrorCode } from '../../src/attestation/errors.js';

/** Asserts verifyNitroDocument(doc, options) throws an AttestationError with `code`; `label` names the case in the failure (with the cause's message). */
export function rejects(doc: Uint8Array, options: VerifyNitroOptions, code: AttestationErrorCode, label: string): void {
  assert.throws(
    () => verifyNitroDocument(doc, options),
    (e: unknown) => {
      assert.ok(e instanceof AttestationError, `${label}: not an AttestationError: ${String(e)}`);
      assert.equal(e.code, code, `${label}: ${String((e.cause as Error | undefined)?.message)}`);
      return true;
    },
  );
}
