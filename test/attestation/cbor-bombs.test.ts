/**
 * Hostile CBOR against the Nitro verifier: deep nesting, length claims far
 * beyond the input, indefinite lengths, oversized documents, wrong types in
 * every payload field. Each is a KH_ATTESTATION_* error, in bounded time and
 * memory, never a crash or a RangeError escaping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from 'cborg';
import { verifyNitroDocument, MAX_DOCUMENT_BYTES } from '../../src/attestation/nitro/verify.js';
import { AttestationError } from '../../src/attestation/errors.js';

function code(bytes: Uint8Array): string {
  try {
    verifyNitroDocument(bytes);
  } catch (e) {
    assert.ok(e instanceof AttestationError, `not an AttestationError: ${String(e)}`);
    return e.code;
  }
  return 'accepted';
}

const cat = (...parts: (number[] | Uint8Array)[]) => new Uint8Array(parts.flatMap((p) => [...p]));

test('deeply nested arrays and maps are refused without exhausting the stack', () => {
  const depth = MAX_DOCUMENT_BYTES - 2;
  assert.equal(code(cat(new Array<number>(depth).fill(0x81), [0x00])), 'KH_ATTESTATION_MALFORMED');
  // Maps nest through their values: {0: {0: ...}}.
  assert.equal(code(cat(new Array<number>(depth / 2).fill(0).flatMap(() => [0xa1, 0x00]), [0x00])), 'KH_ATTESTATION_MALFORMED');
  // Nested inside the payload bstr of an otherwise well-formed COSE_Sign1.
  const payload = cat(new Array<number>(10_000).fill(0x81), [0x00]);
  assert.equal(code(encode([encode(new Map([[1, -35]])), new Map(), payload, new Uint8Array(96)])), 'KH_ATTESTATION_MALFORMED');
});

test('length claims larger than the input allocate nothing and are refused', () => {
  const before = process.memoryUsage().arrayBuffers;
  for (const head of [
    [0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // bstr of 2^64-1 bytes
    [0x84, 0x5a, 0xff, 0xff, 0xff, 0xff], // bstr of 4 GiB
    [0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // array of 2^32 items
    [0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // map of 2^32 pairs
    [0x84, 0x7a, 0x7f, 0xff, 0xff, 0xff], // tstr of 2 GiB
  ]) {
    assert.equal(code(new Uint8Array(head)), 'KH_ATTESTATION_MALFORMED', Buffer.from(head).toString('hex'));
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'no large buffer was allocated');
});

test('indefinite lengths, trailing bytes, other tags and oversized documents are refused', () => {
  const good = encode([encode(new Map([[1, -35]])), new Map(), new Uint8Array(1), new Uint8Array(96)]);
  assert.equal(code(cat([0x9f], good.subarray(1), [0xff])), 'KH_ATTESTATION_MALFORMED'); // indefinite array
  assert.equal(code(cat(good, [0x00])), 'KH_ATTESTATION_MALFORMED'); // trailing byte
  assert.equal(code(cat([0xd8, 0x20], good)), 'KH_ATTESTATION_MALFORMED'); // tag 32, not 18
  assert.equal(code(new Uint8Array(MAX_DOCUMENT_BYTES + 1).fill(0x84)), 'KH_ATTESTATION_MALFORMED');
  assert.equal(code(new Uint8Array(0)), 'KH_ATTESTATION_MALFORMED');
});

test('a wrong type in any payload field is KH_ATTESTATION_FIELD_INVALID', () => {
  const fields: Record<string, unknown> = {
    module_id: 'i-0123',
    digest: 'SHA384',
    timestamp: 1725719859545,
    pcrs: new Map([[0, new Uint8Array(48)]]),
    certificate: new Uint8Array(10),
    cabundle: [new Uint8Array(10)],
  };
  const wrong: unknown[] = [42, 'text', new Uint8Array(3), [], new Map(), null, true, -1, 1.5];
  for (const field of [...Object.keys(fields), 'public_key', 'user_data', 'nonce']) {
    for (const value of wrong) {
      const payload = new Map<string, unknown>(Object.entries({ ...fields, [field]: value }));
      const doc = encode([encode(new Map([[1, -35]])), new Map(), encode(payload), new Uint8Array(96)]);
      const c = code(doc);
      // null and a 3-byte bstr are legal for the optional fields; then the (fake) certificate fails to parse.
      assert.ok(c === 'KH_ATTESTATION_FIELD_INVALID' || c === 'KH_ATTESTATION_MALFORMED', `${field} = ${String(value)} -> ${c}`);
    }
  }
});
