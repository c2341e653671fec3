/**
 * NSM wire format without Nitro hardware: every request is compared byte for
 * byte with CBOR derived by hand from RFC 8949 and serde's externally tagged
 * enum representation (as serde_cbor >= 0.10 writes it for the
 * aws-nitro-enclaves-nsm-api types, src/api/mod.rs); every response shape is
 * decoded; malformed, oversized and wrongly typed responses fail with
 * KH_ATTESTATION_PROVIDER_FAILED and a named reason; fast-check feeds random
 * bytes and random CBOR and checks nothing but AttestationError escapes.
 *
 * RFC 8949 §3 reminders used below: the initial byte is major type (3 bits) |
 * additional info (5 bits). Major 0 uint, 2 byte string, 3 text string,
 * 5 map; additional info 0..23 is the value/length itself, 24 means one
 * length byte follows, 25 two bytes (big-endian). Simple values: 0xf4 false,
 * 0xf5 true, 0xf6 null. So text(n) for n <= 23 is 0x60 + n, map(n) is 0xa0 + n,
 * bytes(n) is 0x40 + n, or 0x58 nn, or 0x59 nnnn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { AttestationError } from '../../src/attestation/errors.js';
import {
  NSM_ERROR_CODES,
  NSM_REQUEST_MAX_BYTES,
  NSM_RESPONSE_MAX_BYTES,
  NsmFailure,
  decodeNsmResponse,
  encodeNsmRequest,
} from '../../src/attestation/nsm/nsm-messages.js';
import type { NsmFailureReason } from '../../src/attestation/nsm/nsm-messages.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** The expected values are written with spaces between the CBOR items of the derivation. */
const unhexStr = (spaced: string): string => spaced.replace(/\s+/g, '');
const unhex = (spaced: string): Uint8Array => new Uint8Array(Buffer.from(unhexStr(spaced), 'hex'));
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);
/** Insertion-order encoding, as serde_cbor writes struct fields (cborg sorts keys otherwise). */
const serde = (value: unknown): Uint8Array => encode(value, { mapSorter: () => 0 });
const variant = (name: string, body: unknown): Uint8Array => serde(new Map([[name, body]]));
const fields = (entries: [string, unknown][]): Map<string, unknown> => new Map(entries);

/** Asserts an AttestationError KH_ATTESTATION_PROVIDER_FAILED whose cause is an NsmFailure with `reason`. */
function assertNsmFailure(e: unknown, reason: NsmFailureReason, label = ''): true {
  assert.ok(e instanceof AttestationError, `${label}: not an AttestationError: ${String(e)}`);
  assert.equal(e.code, 'KH_ATTESTATION_PROVIDER_FAILED', label);
  assert.ok(e.cause instanceof NsmFailure, `${label}: cause is not an NsmFailure`);
  assert.equal(e.cause.reason, reason, `${label}: ${e.cause.message}`);
  return true;
}
function rejectsResponse(bytes: Uint8Array, reason: NsmFailureReason, label: string): void {
  assert.throws(() => decodeNsmResponse(bytes), (e: unknown) => assertNsmFailure(e, reason, label));
}

// Text strings used below, as RFC 8949 text(n) + UTF-8 bytes:
const T_GET_RANDOM = '69 47657452616e646f6d'; //        text(9)  "GetRandom"
const T_DESCRIBE_PCR = '6b 4465736372696265504352'; //  text(11) "DescribePCR"
const T_INDEX = '65 696e646578'; //                      text(5)  "index"
const T_ATTESTATION = '6b 4174746573746174696f6e'; //   text(11) "Attestation"
const T_USER_DATA = '69 757365725f64617461'; //          text(9)  "user_data"
const T_NONCE = '65 6e6f6e6365'; //                      text(5)  "nonce"
const T_PUBLIC_KEY = '6a 7075626c69635f6b6579'; //       text(10) "public_key"
const T_DOCUMENT = '68 646f63756d656e74'; //             text(8)  "document"
const T_LOCK = '64 6c6f636b'; //                         text(4)  "lock"
const T_DATA = '64 64617461'; //                         text(4)  "data"
const T_RANDOM = '66 72616e646f6d'; //                   text(6)  "random"
const T_ERROR = '65 4572726f72'; //                      text(5)  "Error"

test('GetRandom (unit variant) encodes as the bare text string "GetRandom"', () => {
  // serde: serialize_unit_variant -> serialize_str(variant) -> text(9) "GetRandom".
  assert.equal(hex(encodeNsmRequest({ type: 'GetRandom' })), unhexStr(T_GET_RANDOM));
});

test('DescribePCR (struct variant) encodes as {"DescribePCR": {"index": u16}} with shortest-form integers', () => {
  // serialize_struct_variant with enum_as_map: map(1) 0xa1, the variant name,
  // then serialize_struct: map(1 field) 0xa1, "index", the u16 (write_u16 ->
  // write_u8 below 256: 0x00..0x17 inline, 0x18 nn above 23; 0x19 nnnn from 256).
  const cases: [number, string][] = [
    [0, '00'],
    [8, '08'],
    [23, '17'],
    [24, '18 18'],
    [255, '18 ff'],
    [256, '19 0100'],
    [65535, '19 ffff'],
  ];
  for (const [index, uint] of cases) {
    const expected = unhexStr(`a1 ${T_DESCRIBE_PCR} a1 ${T_INDEX} ${uint}`);
    assert.equal(hex(encodeNsmRequest({ type: 'DescribePCR', index })), expected, `index ${index}`);
  }
});

test('Attestation with no fields sends three nulls in declaration order (user_data, nonce, public_key)', () => {
  // map(1) "Attestation" map(3) — serde_cbor writes struct fields in declaration
  // order, not sorted (cborg's default length-first sort would put nonce first).
  // Option::None -> serialize_none -> 0xf6.
  const expected = unhexStr(`a1 ${T_ATTESTATION} a3 ${T_USER_DATA} f6 ${T_NONCE} f6 ${T_PUBLIC_KEY} f6`);
  assert.equal(hex(encodeNsmRequest({ type: 'Attestation' })), expected);
  assert.equal(hex(encodeNsmRequest({ type: 'Attestation', userData: undefined, nonce: undefined, publicKey: undefined })), expected);
});

test('Attestation fields are byte strings with the shortest length header', () => {
  // user_data 3 bytes: bytes(3) = 0x43; nonce 24 bytes: 0x58 0x18 (one length
  // byte, since 24 > 23); public_key 1024 bytes: 0x59 0x0400 (two length bytes).
  const userData = unhex('000102');
  const nonce = fill(24, 0xaa);
  const publicKey = fill(1024, 0x55);
  const expected = unhexStr(
    `a1 ${T_ATTESTATION} a3 ${T_USER_DATA} 43 000102 ${T_NONCE} 58 18 ${'aa'.repeat(24)} ${T_PUBLIC_KEY} 59 0400 ${'55'.repeat(1024)}`,
  );
  assert.equal(hex(encodeNsmRequest({ type: 'Attestation', userData, nonce, publicKey })), expected);
  // Some(empty) is not None: bytes(0) = 0x40.
  assert.equal(
    hex(encodeNsmRequest({ type: 'Attestation', nonce: new Uint8Array(0) })),
    unhexStr(`a1 ${T_ATTESTATION} a3 ${T_USER_DATA} f6 ${T_NONCE} 40 ${T_PUBLIC_KEY} f6`),
  );
  // A Buffer (Uint8Array subclass) encodes the same as a plain Uint8Array.
  assert.equal(hex(encodeNsmRequest({ type: 'Attestation', userData: Buffer.from(userData), nonce, publicKey })), expected);
});

test('the largest request (three 1024-byte fields) stays under NSM_REQUEST_MAX_SIZE; out-of-range arguments are TypeErrors', () => {
  const big = fill(1024, 1);
  assert.ok(encodeNsmRequest({ type: 'Attestation', userData: big, nonce: big, publicKey: big }).length <= NSM_REQUEST_MAX_BYTES);
  assert.throws(() => encodeNsmRequest({ type: 'Attestation', nonce: fill(1025, 0) }), TypeError);
  assert.throws(() => encodeNsmRequest({ type: 'Attestation', userData: fill(1025, 0) }), TypeError);
  assert.throws(() => encodeNsmRequest({ type: 'Attestation', publicKey: fill(1025, 0) }), TypeError);
  for (const index of [-1, 65536, 1.5, Number.NaN]) {
    assert.throws(() => encodeNsmRequest({ type: 'DescribePCR', index }), TypeError, `index ${index}`);
  }
});

test('decodes Attestation, DescribePCR and GetRandom responses (hand-written CBOR)', () => {
  // {"Attestation": {"document": h'd2840102'}}: map(1) text map(1) text bytes(4).
  const att = decodeNsmResponse(unhex(`a1 ${T_ATTESTATION} a1 ${T_DOCUMENT} 44 d2840102`));
  assert.deepEqual(att, { type: 'Attestation', document: unhex('d2840102') });

  // {"DescribePCR": {"lock": true, "data": 48 bytes}}: lock first (declaration order), 0xf5 = true, bytes(48) = 0x58 0x30.
  const pcr = decodeNsmResponse(unhex(`a1 ${T_DESCRIBE_PCR} a2 ${T_LOCK} f5 ${T_DATA} 58 30 ${'07'.repeat(48)}`));
  assert.deepEqual(pcr, { type: 'DescribePCR', lock: true, data: fill(48, 7) });
  const unlocked = decodeNsmResponse(unhex(`a1 ${T_DESCRIBE_PCR} a2 ${T_LOCK} f4 ${T_DATA} 58 30 ${'00'.repeat(48)}`));
  assert.deepEqual(unlocked, { type: 'DescribePCR', lock: false, data: fill(48, 0) });

  // {"GetRandom": {"random": 32 bytes}}: bytes(32) = 0x58 0x20.
  const rnd = decodeNsmResponse(unhex(`a1 ${T_GET_RANDOM} a1 ${T_RANDOM} 58 20 ${'c3'.repeat(32)}`));
  assert.deepEqual(rnd, { type: 'GetRandom', random: fill(32, 0xc3) });

  // Key order inside a struct does not matter to serde, nor here.
  const swapped = decodeNsmResponse(unhex(`a1 ${T_DESCRIBE_PCR} a2 ${T_DATA} 58 30 ${'07'.repeat(48)} ${T_LOCK} f5`));
  assert.deepEqual(swapped, pcr);
});

test('decodes every ErrorCode of the crate as {"Error": "<code>"}', () => {
  // Newtype variant Error(ErrorCode): map(1) "Error" then the ErrorCode, a unit
  // variant, so a text string. "InvalidIndex" is 12 characters: text(12) = 0x6c.
  assert.deepEqual(decodeNsmResponse(unhex(`a1 ${T_ERROR} 6c 496e76616c6964496e646578`)), { type: 'Error', code: 'InvalidIndex' });
  for (const code of NSM_ERROR_CODES) {
    assert.deepEqual(decodeNsmResponse(variant('Error', code)), { type: 'Error', code });
  }
  assert.deepEqual(
    [...NSM_ERROR_CODES],
    ['Success', 'InvalidArgument', 'InvalidIndex', 'InvalidResponse', 'ReadOnlyIndex', 'InvalidOperation', 'BufferTooSmall', 'InputTooLarge', 'InternalError'],
  );
});

test('responses the crate can send but Keyhold never asks for are refused as unexpected', () => {
  rejectsResponse(serde('LockPCR'), 'response-unexpected', 'LockPCR (unit)');
  rejectsResponse(serde('LockPCRs'), 'response-unexpected', 'LockPCRs (unit)');
  rejectsResponse(variant('ExtendPCR', fields([['data', fill(48, 1)]])), 'response-unexpected', 'ExtendPCR');
  rejectsResponse(
    variant(
      'DescribeNSM',
      fields([
        ['version_major', 1],
        ['version_minor', 0],
        ['version_patch', 0],
        ['module_id', 'i-0-enc0'],
        ['max_pcrs', 32],
        ['locked_pcrs', [0, 1, 2]],
        ['digest', 'SHA384'],
      ]),
    ),
    'response-unexpected',
    'DescribeNSM',
  );
});

test('size limits: exactly NSM_RESPONSE_MAX_SIZE decodes, one byte more is oversized, empty is malformed', () => {
  // Header of {"Attestation": {"document": bytes(n)}} with n >= 256:
  // a1 (1) + "Attestation" (12) + a1 (1) + "document" (9) + 59 nnnn (3) = 26 bytes.
  const atLimit = variant('Attestation', fields([['document', fill(NSM_RESPONSE_MAX_BYTES - 26, 0x84)]]));
  assert.equal(atLimit.length, NSM_RESPONSE_MAX_BYTES);
  assert.equal(decodeNsmResponse(atLimit).type, 'Attestation');
  const over = variant('Attestation', fields([['document', fill(NSM_RESPONSE_MAX_BYTES - 25, 0x84)]]));
  rejectsResponse(over, 'response-oversized', 'one byte over');
  rejectsResponse(new Uint8Array(1 << 20), 'response-oversized', '1 MiB');
  rejectsResponse(new Uint8Array(0), 'response-malformed', 'empty');
});

test('malformed CBOR and wrong shapes fail with response-malformed', () => {
  const pcrData = fill(48, 7);
  const cases: [string, Uint8Array][] = [
    ['trailing byte', unhex(`a1 ${T_GET_RANDOM} a1 ${T_RANDOM} 41 01 00`)],
    ['truncated', unhex(`a1 ${T_GET_RANDOM} a1 ${T_RANDOM} 58 20 0102`)],
    ['indefinite-length map', unhex(`bf ${T_GET_RANDOM} a1 ${T_RANDOM} 41 01 ff`)],
    ['non-shortest text length (strict)', unhex(`a1 78 09 47657452616e646f6d a1 ${T_RANDOM} 41 01`)],
    ['non-shortest byte length (strict)', unhex(`a1 ${T_GET_RANDOM} a1 ${T_RANDOM} 58 01 01`)],
    ['duplicate field', unhex(`a1 ${T_DESCRIBE_PCR} a2 ${T_LOCK} f5 ${T_LOCK} f4`)],
    ['undefined (0xf7)', unhex(`a1 ${T_DESCRIBE_PCR} a2 ${T_LOCK} f7 ${T_DATA} 41 01`)],
    ['tagged value', unhex(`a1 ${T_ATTESTATION} a1 ${T_DOCUMENT} c2 41 01`)],
    ['legacy (<= 0.9) array enum form', serde(['GetRandom', fields([['random', fill(32, 1)]])])],
    ['two-entry top-level map', serde(new Map<string, unknown>([['GetRandom', fields([['random', fill(4, 1)]])], ['Error', 'InternalError']]))],
    ['empty top-level map', serde(new Map())],
    ['integer variant key (packed form)', serde(new Map([[7, fields([['random', fill(4, 1)]])]]))],
    ['unknown variant', variant('Reboot', fields([]))],
    ['unknown unit variant', serde('Hello')],
    ['top-level integer', serde(42)],
    ['top-level null', unhex('f6')],
    ['body is not a map', variant('Attestation', fill(4, 1))],
    ['missing field', variant('DescribePCR', fields([['data', pcrData]]))],
    ['extra field', variant('DescribePCR', fields([['lock', true], ['data', pcrData], ['digest', 'SHA384']]))],
    ['document as text', variant('Attestation', fields([['document', 'abcd']]))],
    ['document as array of ints', variant('Attestation', fields([['document', [1, 2, 3]]]))],
    ['empty document', variant('Attestation', fields([['document', new Uint8Array(0)]]))],
    ['lock as 1', variant('DescribePCR', fields([['lock', 1], ['data', pcrData]]))],
    ['lock as null', variant('DescribePCR', fields([['lock', null], ['data', pcrData]]))],
    ['PCR data empty', variant('DescribePCR', fields([['lock', true], ['data', new Uint8Array(0)]]))],
    ['PCR data 65 bytes', variant('DescribePCR', fields([['lock', true], ['data', fill(65, 1)]]))],
    ['random > 1024 bytes', variant('GetRandom', fields([['random', fill(1025, 1)]]))],
    ['random as text', variant('GetRandom', fields([['random', 'xyz']]))],
    ['unknown ErrorCode', variant('Error', 'Bogus')],
    ['ErrorCode as integer (packed form)', variant('Error', 8)],
    ['ErrorCode as map', variant('Error', fields([['InternalError', null]]))],
  ];
  for (const [label, bytes] of cases) rejectsResponse(bytes, 'response-malformed', label);
});

test('request round trip: a generic CBOR decoder sees exactly the serde structure', () => {
  const bytesArb = fc.option(fc.uint8Array({ maxLength: 1024 }), { nil: undefined });
  fc.assert(
    fc.property(bytesArb, bytesArb, bytesArb, fc.integer({ min: 0, max: 65535 }), (userData, nonce, publicKey, index) => {
      const att = decode(encodeNsmRequest({ type: 'Attestation', userData, nonce, publicKey }), { useMaps: true }) as Map<string, Map<string, unknown>>;
      assert.deepEqual([...att.keys()], ['Attestation']);
      const body = att.get('Attestation')!;
      assert.deepEqual([...body.keys()], ['user_data', 'nonce', 'public_key']);
      assert.deepEqual(body.get('user_data'), userData ?? null);
      assert.deepEqual(body.get('nonce'), nonce ?? null);
      assert.deepEqual(body.get('public_key'), publicKey ?? null);
      const pcr = decode(encodeNsmRequest({ type: 'DescribePCR', index }), { useMaps: true, strict: true }) as unknown;
      assert.deepEqual(pcr, new Map([['DescribePCR', new Map([['index', index]])]]));
    }),
    { numRuns: 200 },
  );
});

test('response round trip: every well-formed response in serde shape decodes to itself', () => {
  const responseArb = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((document) => ({ bytes: variant('Attestation', fields([['document', document]])), want: { type: 'Attestation', document } })),
    fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([lock, data]) => ({
      bytes: variant('DescribePCR', fields([['lock', lock], ['data', data]])),
      want: { type: 'DescribePCR', lock, data },
    })),
    fc.uint8Array({ minLength: 1, maxLength: 1024 }).map((random) => ({ bytes: variant('GetRandom', fields([['random', random]])), want: { type: 'GetRandom', random } })),
    fc.constantFrom(...NSM_ERROR_CODES).map((code) => ({ bytes: variant('Error', code), want: { type: 'Error', code } })),
  );
  fc.assert(
    fc.property(responseArb, ({ bytes, want }) => {
      assert.deepEqual(decodeNsmResponse(bytes), want);
    }),
    { numRuns: 300 },
  );
});

/** Only AttestationError KH_ATTESTATION_PROVIDER_FAILED with an NsmFailure cause may escape. */
function onlyProviderFailures(bytes: Uint8Array): void {
  try {
    decodeNsmResponse(bytes);
  } catch (e) {
    assert.ok(e instanceof AttestationError, `escaped: ${String(e)}`);
    assert.equal(e.code, 'KH_ATTESTATION_PROVIDER_FAILED');
    assert.ok(e.cause instanceof NsmFailure);
  }
}

test('fast-check: random bytes as a response never throw anything but AttestationError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyProviderFailures), { numRuns: 3000 });
  // Byte strings that start like a response reach the deeper checks more often.
  const prefixes = [unhex(`a1 ${T_ATTESTATION}`), unhex(`a1 ${T_DESCRIBE_PCR} a2`), unhex(`a1 ${T_GET_RANDOM} a1`), unhex(`a1 ${T_ERROR}`)];
  fc.assert(
    fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 128 }), (prefix, tail) => onlyProviderFailures(new Uint8Array([...prefix, ...tail]))),
    { numRuns: 3000 },
  );
});

test('fast-check: random CBOR built from the response vocabulary never throws anything but AttestationError', () => {
  const names = ['Attestation', 'DescribePCR', 'GetRandom', 'Error', 'LockPCR', 'ExtendPCR', 'document', 'lock', 'data', 'random', ...NSM_ERROR_CODES];
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...names),
      fc.string({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.uniqueArray(fc.tuple(fc.oneof(fc.constantFrom(...names), fc.integer({ min: 0, max: 9 })), tie('value')), { maxLength: 3, selector: ([k]) => k }).map((entries) => new Map(entries)),
    ),
  }));
  fc.assert(fc.property(value, (v) => onlyProviderFailures(serde(v))), { numRuns: 3000 });
});
