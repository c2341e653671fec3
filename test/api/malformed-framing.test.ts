/**
 * Issue 15 (M3, fuzzing): malformed HTTP framing over a raw socket against a
 * listening server — Content-Length that lies (too long, too short, twice,
 * negative, not a number), Content-Length with Transfer-Encoding, unknown
 * transfer codings, bad chunk sizes and chunk terminators, chunked bodies
 * that are too large or too deep, and random framing from fast-check. The
 * invariants: no answer is 5xx, every connection ends (no hang), and the
 * server stays healthy: health answers and a well-formed request works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { runningVault } from '../helpers/keyhold.js';

const DEADLINE_MS = 5_000;

/** Writes `bytes`, optionally half-closes, and returns every status code read until the server closes or the deadline passes. */
function exchange(port: number, bytes: string | Buffer, options: { halfClose?: boolean } = {}): Promise<{ statuses: number[]; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])), text });
    };
    const timer = setTimeout(done, DEADLINE_MS);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', done);
    socket.write(bytes, () => {
      if (options.halfClose === true) socket.end();
    });
  });
}

const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

const CASES: readonly { name: string; bytes: string; halfClose?: boolean }[] = [
  { name: 'Content-Length longer than the body', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 100']) + '{"key":"a"}', halfClose: true },
  { name: 'Content-Length shorter than the body', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 5']) + '{"key":"aaaaaaaa"}' },
  { name: 'two different Content-Lengths', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 3']) + '{}' },
  { name: 'negative Content-Length', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: -1']) + '{}' },
  { name: 'Content-Length not a number', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 1e3']) + '{}' },
  { name: 'Content-Length and Transfer-Encoding', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 2', 'Transfer-Encoding: chunked']) + '2\r\n{}\r\n0\r\n\r\n' },
  { name: 'Transfer-Encoding: xchunked', bytes: head(['POST /v1/auth/login HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: xchunked']) + '2\r\n{}\r\n0\r\n\r\n', halfClose: true },
  { name: 'Transfer-Encoding: chunked, chunked', bytes: head(['POST /v1/auth/login HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked, chunked']) + '2\r\n{}\r\n0\r\n\r\n' },
  { name: 'chunk size not hex', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) + 'zz\r\n{}\r\n0\r\n\r\n' },
  { name: 'chunk without its CRLF', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) + '2\r\n{}XX0\r\n\r\n' },
  { name: 'chunk size beyond the body, then close', bytes: head(['POST /v1/enclave/post HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) + 'FFFFFFFFFF\r\n{"a":', halfClose: true },
  { name: 'chunk size overflowing 64 bits', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) + 'FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n' },
  { name: 'chunked body without the last chunk', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) + '2\r\n{}\r\n', halfClose: true },
  { name: 'bare LF line endings', bytes: 'POST /v1/sys/unseal HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 2\n\n{}' },
  { name: 'obsolete header folding', bytes: head(['POST /v1/sys/unseal HTTP/1.1', 'Host: x', 'Content-Type: application/json', ' folded', 'Content-Length: 2']) + '{}' },
];

function chunked(path: string, body: string, chunkSize = 4096): string {
  let out = head([`POST ${path} HTTP/1.1`, 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked', 'Connection: close']);
  for (let i = 0; i < body.length; i += chunkSize) {
    const part = body.slice(i, i + chunkSize);
    out += `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`;
  }
  return `${out}0\r\n\r\n`;
}

test('malformed framing on raw sockets never gets a 5xx, never hangs, and the server stays healthy', async (t) => {
  // The default configuration, LIST framing view included: the bytes go through it as in production.
  const { server } = await runningVault(t, { enclave: { provider: 'simulated' }, listeners: { api: { port: 0 }, health: { port: 0 } } });
  const port = Number(new URL(server.apiUrl).port);
  // Named steps: a case the server rightly waits on (a body shorter than its
  // Content-Length) costs the 5 s deadline, so the whole scenario can pass a
  // minute on a loaded machine while every step stays well inside one.
  await t.test('each hand-written malformed framing', async () => {
    for (const c of CASES) {
      const { statuses, text } = await exchange(port, c.bytes, c.halfClose === true ? { halfClose: true } : {});
      for (const s of statuses) assert.ok(s < 500, `${c.name}: ${s} ${text.slice(0, 300)}`);
    }
  });
  // Chunked bodies are held to the route limit and the depth limit like sized ones.
  await t.test('chunked bodies meet the route limit and the depth limit', async () => {
    const tooLarge = await exchange(port, chunked('/v1/sys/unseal', JSON.stringify({ key: 'A'.repeat(200_000) })));
    assert.deepEqual(tooLarge.statuses, [413], tooLarge.text.slice(0, 300));
    const tooDeep = await exchange(port, chunked('/v1/sys/unseal', '['.repeat(2_000) + ']'.repeat(2_000)));
    assert.deepEqual(tooDeep.statuses, [400], tooDeep.text.slice(0, 300));
    assert.match(tooDeep.text, /KH_BODY_TOO_DEEP/);
  });

  // 60 random framings in all, as three steps of 20.
  for (const part of [1, 2, 3]) await t.test(`random framings, part ${part} of 3`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/v1/sys/unseal', '/v1/auth/login', '/v1/enclave/post', '/v1/sys/init', '/'),
        fc.option(fc.oneof(fc.nat({ max: 1 << 20 }).map(String), fc.string({ maxLength: 12 })), { nil: undefined }),
        fc.option(fc.constantFrom('chunked', 'gzip, chunked', 'identity', 'chunked;x=1', ''), { nil: undefined }),
        fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.constant('\r\n'), fc.nat({ max: 0xffffff }).map((n) => `${n.toString(16)}\r\n`)), { maxLength: 12 }),
        fc.boolean(),
        async (path, length, coding, body, halfClose) => {
          const lines = [`POST ${path} HTTP/1.1`, 'Host: x', 'Content-Type: application/json'];
          if (length !== undefined) lines.push(`Content-Length: ${length}`);
          if (coding !== undefined) lines.push(`Transfer-Encoding: ${coding}`);
          const { statuses, text } = await exchange(port, head(lines) + body.join(''), { halfClose });
          for (const s of statuses) assert.ok(s < 500, `${s}: ${text.slice(0, 300)}`);
        },
      ),
      { numRuns: 20 },
    );
  });

  const health = await fetch(`${server.healthUrl}/health`);
  assert.equal(health.status, 200);
  const status = await fetch(`${server.apiUrl}/v1/sys/seal-status`);
  assert.equal(status.status, 200);
  assert.equal(((await status.json()) as { sealed: boolean }).sealed, false, 'nothing sealed or broke the vault');
});
