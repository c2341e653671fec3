/**
 * The LIST-method framing view (src/api/http-list-method.ts) on its own:
 * what it rewrites, that its output does not depend on how the bytes are cut
 * into reads (fast-check), that bodies (fixed and chunked) are never
 * rewritten even when they hold a LIST line, and that on every framing it is
 * not sure of it stops and passes bytes through unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ListRewriter } from '../../src/api/http-list-method.js';

/** The marker field the view adds after a rewritten request line (the real one carries a per-process secret). */
const MARK = 'M: 1\r\n';

const run = (input: string, cuts: number[] = [], max = 16384): { out: string; rewriter: ListRewriter } => {
  const rewriter = new ListRewriter(max, Buffer.from(MARK, 'latin1'));
  const bytes = Buffer.from(input, 'latin1');
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p < from) continue;
    parts.push(...rewriter.write(bytes.subarray(from, p)));
    from = p;
  }
  return { out: Buffer.concat(parts).toString('latin1'), rewriter };
};

const LIST = 'LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\n\r\n';
const LISTED = `GET /v1/transit/keys?list=true HTTP/1.1\r\n${MARK}Host: x\r\n\r\n`;

test('a LIST request line becomes GET with list=true; other requests pass byte for byte', () => {
  assert.equal(run(LIST).out, LISTED);
  assert.equal(run('LIST /v1/transit/keys?after=a HTTP/1.0\r\n\r\n').out, `GET /v1/transit/keys?after=a&list=true HTTP/1.0\r\n${MARK}\r\n`);
  const get = 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n';
  assert.equal(run(get).out, get);
  const { rewriter } = run(get + LIST + get);
  assert.deepEqual(rewriter.lists, [1], 'the second message was the LIST');
  assert.equal(rewriter.messages, 3);
});

test('a LIST line inside a body (Content-Length or chunked) is body, not a request', () => {
  const body = LIST;
  const fixed = `POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  assert.equal(run(fixed + LIST).out, fixed + LISTED);
  const chunked = `POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)};ext=1\r\n${body}\r\n0\r\nX-Trailer: 1\r\n\r\n`;
  assert.equal(run(chunked + LIST).out, chunked + LISTED);
});

test('the output does not depend on how the bytes are cut into reads (fast-check)', () => {
  const message = fc.constantFrom(
    LIST,
    'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nLIST ',
    'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    'POST /d HTTP/1.1\r\nhost: x\r\ntransfer-encoding:  Chunked \r\n\r\n1e\r\nLIST /v1/transit/keys HTTP/1.1\r\n0\r\nT: 1\r\n\r\n',
    'LIST /v1/keys?x=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}',
  );
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
      const input = messages.join('');
      const whole = run(input);
      const cut = run(input, cuts);
      assert.equal(cut.out, whole.out);
      assert.deepEqual(cut.rewriter.lists, whole.rewriter.lists);
      assert.equal(whole.rewriter.passingThrough, false);
      assert.equal(whole.rewriter.lists.length, messages.filter((m) => m.startsWith('LIST')).length);
    }),
    { numRuns: 300 },
  );
});

test('framings it is not sure of stop the view: the rest passes unchanged (llhttp decides)', () => {
  const ambiguous = [
    'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nX: 1\r\n folded\r\n\r\n',
    'POST /a HTTP/1.1\nContent-Length: 5\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n',
    'CONNECT a:443 HTTP/1.1\r\n\r\n',
    '\r\nGET /a HTTP/1.1\r\n\r\n',
    'POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n',
  
    'GET /a HTTP/1.1\r\nX: 1\r\n\r\n',
    'GET /a HTTP/1.1\r\nContent-Length: ' + '1'.repeat(70) + '\r\nHost: x\r\n\r\n',
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: x\rGET /b HTTP/1.1\r\n\r\n',
  ];
  for (const head of ambiguous) {
    const input = head + LIST;
    const { out, rewriter } = run(input);
    assert.equal(out, input, JSON.stringify(head));
    assert.equal(rewriter.passingThrough, true, JSON.stringify(head));
    assert.deepEqual(rewriter.lists, []);
  }
});

test('at most the 6 bytes of `LIST /` are held; every other byte goes on in the read it came in, uncopied', () => {
  const rewriter = new ListRewriter(16384, Buffer.from(MARK, 'latin1'));
  const head = Buffer.from(`GET /a HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(16000)}\r\n\r\n`, 'latin1');
  for (let k = 0; k < head.length; k++) {
    const byte = head.subarray(k, k + 1);
    const out = rewriter.write(byte);
    // The very Buffer read: nothing kept, nothing copied (an attacker's one-byte reads cost no memory here).
    assert.equal(out.length, 1);
    assert.equal(out[0], byte);
  }
  assert.equal(rewriter.passingThrough, false);
  const list = Buffer.from(LIST, 'latin1');
  const parts: Buffer[] = [];
  for (let k = 0; k < list.length; k++) {
    parts.push(...rewriter.write(list.subarray(k, k + 1)));
    assert.ok(rewriter.heldBytes <= 6);
  }
  assert.equal(Buffer.concat(parts).toString('latin1'), LISTED);
  assert.deepEqual(rewriter.lists, [1]);
});

test('a head larger than maxHeaderSize stops the view (Node answers 431); a LIST line dribbled one byte at a time is still rewritten', () => {
  const big = `GET /v1/transit/keys HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(200)}\r\n\r\n`;
  const { out, rewriter } = run(big + LIST, [10, 50, 100], 128);
  assert.equal(out, big + LIST);
  assert.equal(rewriter.passingThrough, true);
  const dribble = run(LIST + LIST, Array.from({ length: LIST.length * 2 }, (_, i) => i));
  assert.equal(dribble.out, LISTED + LISTED);
});

test('a LIST that is not origin-form is left for llhttp to refuse; one it doubts after rewriting is spoiled with a NUL (llhttp: 400)', () => {
  for (const line of ['LIST * HTTP/1.1\r\n\r\n', 'LIST http://x/v1/transit/keys HTTP/1.1\r\n\r\n']) assert.equal(run(line).out, line);
  const spoiled: [string, string][] = [
    ['LIST /a#b HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /a\0#b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['LIST /a\r\nHost: x\r\n\r\n', 'GET /a\0\r\nHost: x\r\n\r\n'],
    ['LIST /a HTTP/1.1\nHost: x\r\n\r\n', 'GET /a?list=true HTTP/1.1\0\nHost: x\r\n\r\n'],
    ['LIST /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', `GET /a?list=true HTTP/1.1\r\n${MARK}Host: x\r\n\0 folded\r\n\r\n`],
    ['LIST /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n', `GET /a?list=true HTTP/1.1\r\n${MARK}Host: x\r\nUpgrade: h2c\r\0\n\r\n`],
    ['LIST /a HTTP/1.1\r\n\r\n', `GET /a?list=true HTTP/1.1\r\n${MARK}\r\0\n`],
  ];
  for (const [input, expected] of spoiled) {
    const { out, rewriter } = run(input + LIST);
    assert.equal(out, expected + LIST, JSON.stringify(input));
    assert.equal(rewriter.passingThrough, true);
  }
});
