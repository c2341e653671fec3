/**
 * The `nsm` provider without Nitro hardware: in-process fake transports check
 * what is sent and how each answer is handled; a fake helper (a node script
 * run as the helper executable, through a shebang to process.execPath or as
 * process.execPath + script) checks the real spawn transport end to end:
 * stdin/stdout framing, the empty environment, exit codes, missing helpers,
 * the timeout (and that the helper is killed), the stdout cap and the
 * concurrency limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { AttestationError } from '../../src/attestation/errors.js';
import { NsmFailure, encodeNsmRequest } from '../../src/attestation/nsm/nsm-messages.js';
import type { NsmFailureReason } from '../../src/attestation/nsm/nsm-messages.js';
import { createHelperTransport } from '../../src/attestation/nsm/nsm-transport.js';
import type { NsmTransport } from '../../src/attestation/nsm/nsm-transport.js';
import { NSM_PCR_INDEXES, createNsmProvider } from '../../src/attestation/nsm/nsm-provider.js';

const serde = (value: unknown): Uint8Array => encode(value, { mapSorter: () => 0 });
const variant = (name: string, body: unknown): Uint8Array => serde(new Map([[name, body]]));
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);
/** Byte comparison that ignores Buffer vs Uint8Array (cborg returns Buffers under Node). */
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

/** A structurally valid Nitro-style COSE_Sign1 (untagged, alg ES384); the signature is not checked by the provider. */
function coseDocument(payload: Map<string, unknown>): Uint8Array {
  return encode([encode(new Map([[1, -35]])), new Map(), serde(payload), new Uint8Array(96)]);
}
const attestationResponse = (document: Uint8Array): Uint8Array => variant('Attestation', new Map([['document', document]]));
const pcrResponse = (data: Uint8Array): Uint8Array => variant('DescribePCR', new Map<string, unknown>([['lock', true], ['data', data]]));

async function rejectsWith(promise: Promise<unknown>, reason: NsmFailureReason, label = ''): Promise<NsmFailure> {
  let failure: NsmFailure | undefined;
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof AttestationError, `${label}: not an AttestationError: ${String(e)}`);
    assert.equal(e.code, 'KH_ATTESTATION_PROVIDER_FAILED', label);
    assert.ok(e.cause instanceof NsmFailure, `${label}: cause is not an NsmFailure: ${String(e.cause)}`);
    assert.equal(e.cause.reason, reason, `${label}: ${e.cause.message}`);
    failure = e.cause;
    return true;
  });
  return failure!;
}

// ---------------------------------------------------------------- in-process fake device

test('attest sends the Attestation request exactly as encoded and returns the document bytes', async () => {
  const sent: Uint8Array[] = [];
  const document = coseDocument(new Map<string, unknown>([['module_id', 'i-0-enc0'], ['nonce', fill(8, 1)]]));
  const provider = createNsmProvider({
    run: (request) => {
      sent.push(request);
      return Promise.resolve(attestationResponse(document));
    },
  });
  assert.equal(provider.kind, 'nsm');
  const request = { publicKey: fill(32, 2), userData: fill(32, 3), nonce: fill(8, 1) };
  assert.equal(hex(await provider.attest(request)), hex(document));
  assert.deepEqual(sent.map(hex), [hex(encodeNsmRequest({ type: 'Attestation', ...request }))]);
  // Absent fields go out as null.
  await provider.attest({});
  assert.deepEqual(decode(sent[1]!, { useMaps: true }), new Map([['Attestation', new Map([['user_data', null], ['nonce', null], ['public_key', null]])]]));
});

test('pcrs asks DescribePCR for 0, 1, 2, 3, 4 and 8, in that order, and returns 48-byte values', async () => {
  const asked: number[] = [];
  const provider = createNsmProvider({
    run: (request) => {
      const index = (decode(request, { useMaps: true }) as Map<string, Map<string, number>>).get('DescribePCR')!.get('index')!;
      asked.push(index);
      return Promise.resolve(pcrResponse(fill(48, index)));
    },
  });
  const pcrs = await provider.pcrs();
  assert.deepEqual(asked, [0, 1, 2, 3, 4, 8]);
  assert.deepEqual([...pcrs.keys()], [...NSM_PCR_INDEXES]);
  for (const [index, value] of pcrs) assert.deepEqual(value, fill(48, index));
});

test('an NSM Error answer fails with nsm-error and names the ErrorCode', async () => {
  const provider = createNsmProvider({ run: () => Promise.resolve(variant('Error', 'InvalidArgument')) });
  const failure = await rejectsWith(provider.attest({ nonce: fill(4, 1) }), 'nsm-error');
  assert.equal(failure.nsmError, 'InvalidArgument');
  await rejectsWith(provider.pcrs(), 'nsm-error');
});

test('a well-formed answer of the wrong variant fails with response-unexpected', async () => {
  const toAttest = createNsmProvider({ run: () => Promise.resolve(pcrResponse(fill(48, 0))) });
  await rejectsWith(toAttest.attest({}), 'response-unexpected', 'DescribePCR for Attestation');
  const toPcrs = createNsmProvider({ run: () => Promise.resolve(variant('GetRandom', new Map([['random', fill(32, 1)]]))) });
  await rejectsWith(toPcrs.pcrs(), 'response-unexpected', 'GetRandom for DescribePCR');
});

test('a document that is not a COSE_Sign1 with ES384, or a PCR that is not 48 bytes, is refused', async () => {
  const notCose = createNsmProvider({ run: () => Promise.resolve(attestationResponse(encode({ hello: 'world' }))) });
  await rejectsWith(notCose.attest({}), 'response-malformed', 'not COSE');
  const es256 = encode([encode(new Map([[1, -7]])), new Map(), serde(new Map()), new Uint8Array(64)]);
  const wrongAlg = createNsmProvider({ run: () => Promise.resolve(attestationResponse(es256)) });
  await rejectsWith(wrongAlg.attest({}), 'response-malformed', 'ES256');
  const sha256Pcr = createNsmProvider({ run: () => Promise.resolve(pcrResponse(fill(32, 0))) });
  await rejectsWith(sha256Pcr.pcrs(), 'response-malformed', '32-byte PCR');
});

test('transport failures: AttestationErrors pass through, anything else becomes helper-failed', async () => {
  const throwing = createNsmProvider({ run: () => Promise.reject(new Error('boom')) });
  await rejectsWith(throwing.attest({}), 'helper-failed');
  const syncThrowing = createNsmProvider({
    run: () => {
      throw new RangeError('sync boom');
    },
  });
  await rejectsWith(syncThrowing.pcrs(), 'helper-failed');
});

test('oversized request fields are refused before anything is sent; a closed provider refuses every call', async () => {
  let calls = 0;
  const provider = createNsmProvider({
    run: () => {
      calls++;
      return Promise.resolve(attestationResponse(coseDocument(new Map())));
    },
  });
  await assert.rejects(provider.attest({ userData: fill(1025, 0) }), TypeError);
  assert.equal(calls, 0);
  await provider.close();
  await rejectsWith(provider.attest({}), 'closed');
  await rejectsWith(provider.pcrs(), 'closed');
  assert.equal(calls, 0);
});

test('fast-check: whatever the device answers, attest and pcrs only ever reject with AttestationError', async () => {
  const answer = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map(attestationResponse),
    fc.uint8Array({ maxLength: 80 }).map(pcrResponse),
    fc.constantFrom('Success', 'InternalError', 'Nope').map((code) => variant('Error', code)),
  );
  await fc.assert(
    fc.asyncProperty(answer, async (bytes) => {
      const provider = createNsmProvider({ run: () => Promise.resolve(bytes) });
      for (const call of [() => provider.attest({ nonce: fill(16, 9) }), () => provider.pcrs()]) {
        try {
          await call();
        } catch (e) {
          assert.ok(e instanceof AttestationError, `escaped: ${String(e)}`);
          assert.equal(e.code, 'KH_ATTESTATION_PROVIDER_FAILED');
        }
      }
    }),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------- the spawn transport, with a fake helper

let dir = '';
const cborgUrl = import.meta.resolve('cborg');

/**
 * A fake keyhold-nsm: an ES module run by this node binary. It reads one
 * request from stdin and behaves like the real helper in `mode`.
 */
function fakeHelper(name: string, mode: string): string {
  const path = join(dir, `${name}.mjs`);
  writeFileSync(
    path,
    `#!${process.execPath}
import { writeFileSync, readdirSync, unlinkSync } from 'node:fs';
const { encode, decode } = await import(${JSON.stringify(cborgUrl)});
const MODE = ${JSON.stringify(mode)};
const DIR = ${JSON.stringify(dir)};
const serde = (v) => encode(v, { mapSorter: () => 0 });
const answer = (name, body) => process.stdout.write(serde(new Map([[name, body]])));

if (MODE === 'exit') {
  process.stderr.write('keyhold-nsm: cannot open /dev/nsm (not inside a Nitro enclave?)\\n');
  process.exit(3);
}
if (MODE === 'sleep') {
  writeFileSync(DIR + '/sleep.pid', String(process.pid));
  setInterval(() => {}, 1000);
} else if (MODE === 'flood') {
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const more = () => { while (process.stdout.write(chunk)); process.stdout.once('drain', more); };
  more();
} else {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const input = new Uint8Array(Buffer.concat(chunks));
  if (MODE === 'echo') {
    answer('GetRandom', new Map([['random', input]]));
  } else if (MODE === 'env') {
    answer('GetRandom', new Map([['random', new TextEncoder().encode(JSON.stringify(Object.keys(process.env)) + ' ')]]));
  } else if (MODE === 'slow') {
    const mark = DIR + '/active-' + process.pid;
    writeFileSync(mark, '');
    const seen = readdirSync(DIR).filter((n) => n.startsWith('active-')).length;
    await new Promise((r) => setTimeout(r, 150));
    unlinkSync(mark);
    answer('GetRandom', new Map([['random', new Uint8Array([seen])]]));
  } else {
    // MODE 'device': a tiny NSM.
    const req = decode(input, { useMaps: true, strict: true });
    if (req === 'GetRandom') {
      answer('GetRandom', new Map([['random', new Uint8Array(32).fill(0x5a)]]));
    } else if (req instanceof Map && req.has('DescribePCR')) {
      const index = req.get('DescribePCR').get('index');
      answer('DescribePCR', new Map([['lock', true], ['data', new Uint8Array(48).fill(index)]]));
    } else if (req instanceof Map && req.has('Attestation')) {
      const a = req.get('Attestation');
      const payload = serde(new Map([
        ['module_id', 'i-00000000000000000-enc0000000000000000'],
        ['digest', 'SHA384'],
        ['timestamp', 1700000000000],
        ['public_key', a.get('public_key')],
        ['user_data', a.get('user_data')],
        ['nonce', a.get('nonce')],
      ]));
      const doc = encode([encode(new Map([[1, -35]])), new Map(), payload, new Uint8Array(96)]);
      answer('Attestation', new Map([['document', doc]]));
    } else {
      answer('Error', 'InvalidOperation');
    }
  }
}
`,
  );
  chmodSync(path, 0o755);
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyhold-nsm-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('spawn transport: the helper receives the request bytes on stdin unchanged (process.execPath + script)', async () => {
  const run = createHelperTransport({ helperPath: process.execPath, args: [fakeHelper('echo', 'echo')] });
  for (const request of [
    encodeNsmRequest({ type: 'GetRandom' }),
    encodeNsmRequest({ type: 'DescribePCR', index: 8 }),
    encodeNsmRequest({ type: 'Attestation', nonce: fill(64, 0xee), userData: fill(32, 1), publicKey: fill(32, 2) }),
  ]) {
    const response = decode(await run(request), { useMaps: true }) as Map<string, Map<string, Uint8Array>>;
    assert.equal(hex(response.get('GetRandom')!.get('random')), hex(request));
  }
});

test('spawn transport: the helper runs with an empty environment', async () => {
  process.env.KEYHOLD_TEST_SECRET = 'must-not-leak';
  try {
    const run = createHelperTransport({ helperPath: fakeHelper('env', 'env') });
    const response = decode(await run(encodeNsmRequest({ type: 'GetRandom' })), { useMaps: true }) as Map<string, Map<string, Uint8Array>>;
    const keys = JSON.parse(new TextDecoder().decode(response.get('GetRandom')!.get('random')!)) as string[];
    assert.deepEqual(keys, [], `helper saw ${keys.join(',')}`);
  } finally {
    delete process.env.KEYHOLD_TEST_SECRET;
  }
});

test('end to end: createNsmProvider({ helperPath }) attests and reads PCRs through a spawned fake NSM', async () => {
  const provider = createNsmProvider({ helperPath: fakeHelper('device', 'device'), timeoutMs: 10_000 });
  const nonce = fill(64, 0x11);
  const userData = fill(32, 0x22);
  const publicKey = fill(32, 0x33);
  const document = await provider.attest({ nonce, userData, publicKey });
  const [, , payloadBytes] = decode(document, { useMaps: true }) as [Uint8Array, unknown, Uint8Array, Uint8Array];
  const payload = decode(payloadBytes, { useMaps: true }) as Map<string, unknown>;
  assert.deepEqual(payload.get('nonce'), nonce);
  assert.deepEqual(payload.get('user_data'), userData);
  assert.deepEqual(payload.get('public_key'), publicKey);
  const absent = decode((decode(await provider.attest({}), { useMaps: true }) as unknown[])[2] as Uint8Array, { useMaps: true }) as Map<string, unknown>;
  assert.equal(absent.get('nonce'), null);

  const pcrs = await provider.pcrs();
  assert.deepEqual([...pcrs.keys()], [0, 1, 2, 3, 4, 8]);
  for (const [index, value] of pcrs) assert.deepEqual(value, fill(48, index));
  await provider.close();
});

test('spawn transport: a helper that exits non-zero fails with helper-failed and its stderr in the detail', async () => {
  const provider = createNsmProvider({ helperPath: fakeHelper('exit', 'exit') });
  const failure = await rejectsWith(provider.attest({}), 'helper-failed');
  assert.match(failure.message, /exit status 3: keyhold-nsm: cannot open \/dev\/nsm/);
});

test('spawn transport: a missing or non-executable helper fails with helper-unavailable', async () => {
  await rejectsWith(createNsmProvider({ helperPath: join(dir, 'no-such-helper') }).attest({}), 'helper-unavailable', 'missing');
  const plain = join(dir, 'not-executable');
  writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  await rejectsWith(createNsmProvider({ helperPath: plain }).attest({}), 'helper-unavailable', 'not executable');
  await rejectsWith(createNsmProvider({ helperPath: 'bad\0path' }).attest({}), 'helper-unavailable', 'NUL in path');
});

test('spawn transport: a hung helper times out and is killed', async () => {
  const run = createHelperTransport({ helperPath: fakeHelper('sleep', 'sleep'), timeoutMs: 3000 }); // long enough for node to start and write its pid on a loaded CI machine
  const started = Date.now();
  await rejectsWith(run(encodeNsmRequest({ type: 'GetRandom' })), 'helper-timeout');
  assert.ok(Date.now() - started < 5000, 'the timeout took too long');
  const pid = Number(readFileSync(join(dir, 'sleep.pid'), 'utf8'));
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      alive = false;
    }
  }
  assert.equal(alive, false, `helper ${pid} is still running`);
});

test('spawn transport: a helper that writes more than an NSM response can hold is cut off', async () => {
  const run = createHelperTransport({ helperPath: fakeHelper('flood', 'flood'), timeoutMs: 10_000 });
  await rejectsWith(run(encodeNsmRequest({ type: 'GetRandom' })), 'response-oversized');
});

test('spawn transport: no more than maxConcurrent helpers run at once', async () => {
  const run = createHelperTransport({ helperPath: fakeHelper('slow', 'slow'), maxConcurrent: 2, timeoutMs: 10_000 });
  const answers = await Promise.all(Array.from({ length: 6 }, () => run(encodeNsmRequest({ type: 'GetRandom' }))));
  const seen = answers.map((a) => (decode(a, { useMaps: true }) as Map<string, Map<string, Uint8Array>>).get('GetRandom')!.get('random')![0]!);
  assert.ok(Math.max(...seen) <= 2, `saw ${seen.join(',')} helpers at once`);
});

test('createHelperTransport rejects nonsensical limits', () => {
  assert.throws(() => createHelperTransport({ timeoutMs: 0 }), TypeError);
  assert.throws(() => createHelperTransport({ maxResponseBytes: -1 }), TypeError);
  assert.throws(() => createHelperTransport({ maxConcurrent: 0 }), TypeError);
  const transport: NsmTransport = createHelperTransport();
  assert.equal(typeof transport, 'function');
});
