/**
 * The LIST-method connection wrapper under real Node HTTP and HTTPS servers:
 * what handlers read from `request.socket` still works (addresses, TLS state,
 * the client certificate, timeouts), keep-alive and pipelined requests cut
 * into random reads (fast-check) arrive as sent with LIST rewritten, a large
 * streamed body passes whole, and without the wrapper Node refuses LIST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { acceptListMethod } from '../../src/api/http-list-method.js';
import { makePki } from '../helpers/pki.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Echoes what a handler sees: method, url, socket facts, and a hash of the body. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  req.on('end', () => {
    const s = req.socket as Partial<TLSSocket>;
    const cert = s.encrypted === true && typeof s.getPeerCertificate === 'function' ? s.getPeerCertificate(false) : undefined;
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      bytes,
      sha256: hash.digest('hex'),
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      localPort: s.localPort,
      encrypted: s.encrypted ?? false,
      authorized: s.authorized ?? null,
      peerCN: cert?.subject?.CN ?? null,
    });
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

interface Answer {
  status: number;
  body: string;
}

/** Sends `parts` one write each (with a tick between), reads until the server closes, and splits the answers. */
async function exchange(socket: Socket, parts: Buffer[]): Promise<Answer[]> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  for (const p of parts) {
    socket.write(p);
    await new Promise((r) => setImmediate(r));
  }
  await ended;
  const all = Buffer.concat(chunks).toString('latin1');
  const answers: Answer[] = [];
  let at = 0;
  while (at < all.length) {
    const head = all.indexOf('\r\n\r\n', at);
    assert.ok(head > 0, `a complete answer at ${at}: ${JSON.stringify(all.slice(at, at + 200))}`);
    const lines = all.slice(at, head).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const length = Number(lines.find((l) => /^content-length:/i.test(l))?.split(':')[1] ?? '0');
    answers.push({ status, body: all.slice(head + 4, head + 4 + length) });
    at = head + 4 + length;
  }
  return answers;
}

function cut(bytes: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...sorted, bytes.length]) {
    if (p > from) parts.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return parts;
}

const chunkedBody = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
const PIPELINE = [
  'LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\n\r\n',
  `POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody('LIST /v1/transit/keys HTTP/1.1\r\n\r\n')}`,
  'GET /v1/transit/keys/k HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nLIST',
  'LIST /v1/keys?after=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
].join('');

function checkPipeline(answers: Answer[]): void {
  const seen = answers.map((a) => JSON.parse(a.body) as { method: string; url: string; bytes: number });
  assert.deepEqual(
    seen.map((s) => `${s.method} ${s.url} ${s.bytes}`),
    ['GET /v1/transit/keys?list=true 0', 'POST /v1/transit/encrypt/k 34', 'GET /v1/transit/keys/k 0', 'POST /a 4', 'GET /v1/keys?after=b 0'],
  );
}

test('plain HTTP: keep-alive and pipelined requests in random reads arrive as sent, LIST rewritten (fast-check)', async (t) => {
  const server = createHttpServer(echo);
  acceptListMethod(server, { listAsGet: (url) => url.startsWith('/v1/transit/') });
  const port = await listen(server);
  t.after(() => close(server));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { maxLength: 10 }), async (points) => {
      const socket = netConnect(port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      const clientPort = socket.localPort;
      const answers = await exchange(socket, cut(Buffer.from(PIPELINE, 'latin1'), points));
      assert.equal(answers.length, 5);
      checkPipeline(answers);
      const facts = JSON.parse(answers[0]!.body) as { remoteAddress: string; remotePort: number; localPort: number; encrypted: boolean };
      assert.equal(facts.remoteAddress, '127.0.0.1');
      assert.equal(facts.remotePort, clientPort);
      assert.equal(facts.localPort, port);
      assert.equal(facts.encrypted, false);
    }),
    { numRuns: 25 },
  );
});

test('TLS with a client certificate: the handler sees encrypted, authorized and the peer certificate through the wrapper', async (t) => {
  const pki = makePki(tempDir(t));
  const server = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert), requestCert: true, rejectUnauthorized: false }, echo);
  acceptListMethod(server, { listAsGet: (url) => url.startsWith('/v1/transit/') });
  const port = await listen(server);
  t.after(() => close(server));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { maxLength: 6 }), async (points) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), servername: 'localhost' });
      await new Promise((r) => socket.once('secureConnect', r));
      const answers = await exchange(socket, cut(Buffer.from(PIPELINE, 'latin1'), points));
      checkPipeline(answers);
      const facts = JSON.parse(answers[0]!.body) as { encrypted: boolean; authorized: boolean; peerCN: string };
      assert.equal(facts.encrypted, true);
      assert.equal(facts.authorized, true);
      assert.equal(facts.peerCN, 'operator');
    }),
    { numRuns: 8 },
  );
});

test('a large streamed body (8 MiB, chunked and with Content-Length) passes whole; socket timeouts still fire', async (t) => {
  const server = createHttpServer(echo);
  acceptListMethod(server, { listAsGet: () => true });
  const port = await listen(server);
  t.after(() => close(server));
  const body = Buffer.alloc(8 * 1024 * 1024, 'LIST / HTTP/1.1\r\n');
  const digest = createHash('sha256').update(body).digest('hex');
  for (const chunked of [false, true]) {
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const head = `POST /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`}\r\n\r\n`;
    const parts = [Buffer.from(head)];
    if (chunked) for (let i = 0; i < body.length; i += 1_000_000) {
      const piece = body.subarray(i, i + 1_000_000);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    else parts.push(body);
    if (chunked) parts.push(Buffer.from('0\r\n\r\n'));
    const [answer] = await exchange(socket, [Buffer.concat(parts)]);
    const seen = JSON.parse(answer!.body) as { bytes: number; sha256: string; url: string };
    assert.equal(seen.bytes, body.length);
    assert.equal(seen.sha256, digest);
    assert.equal(seen.url, '/big');
  }
  // Node's idle timeout acts through the wrapper's setTimeout/'timeout'.
  server.timeout = 200;
  const idle = netConnect(port, '127.0.0.1');
  const started = Date.now();
  await new Promise((r) => idle.once('close', r));
  assert.ok(Date.now() - started < 5000, 'the idle connection was closed by the server timeout');
});

test('without the wrapper Node itself refuses LIST (why the wrapper exists)', async (t) => {
  const server = createHttpServer(echo);
  const port = await listen(server);
  t.after(() => close(server));
  const socket = netConnect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const [answer] = await exchange(socket, [Buffer.from('LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\n\r\n')]);
  assert.equal(answer!.status, 400);
});

test('a Host-less HTTP/1.1 request (Node: 400 and close, no request event) moves no LIST flag: the next requests are served as sent', async (t) => {
  const server = createHttpServer(echo);
  acceptListMethod(server, { listAsGet: (url) => url.startsWith('/v1/transit/') });
  const port = await listen(server);
  t.after(() => close(server));
  const socket = netConnect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const pipeline = 'GET /a HTTP/1.1\r\n\r\nLIST /v1/secrets/x HTTP/1.1\r\nHost: h\r\n\r\nGET /v1/keys/victim HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  await new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.end(pipeline);
  });
  assert.deepEqual(got.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 400'], 'Node refused the first and closed; nothing after it was served');
  assert.ok(!got.includes('victim') && !got.includes('secrets'));
});

test('the LIST marker is stripped before the handler; a client cannot forge it', async (t) => {
  const seen: { method: string; url: string; headers: string[] }[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: Object.keys(req.headers) });
    res.end('ok');
  });
  acceptListMethod(server, { listAsGet: () => true });
  const port = await listen(server);
  t.after(() => close(server));
  const socket = netConnect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const forged = 'GET /v1/transit/keys HTTP/1.1\r\nx-keyhold-list-method: 00\r\nHost: h\r\n\r\n';
  await exchange(socket, [Buffer.from(`LIST /v1/transit/keys HTTP/1.1\r\nHost: h\r\n\r\n${forged.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`, 'latin1')]);
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ['GET /v1/transit/keys?list=true', 'GET /v1/transit/keys']);
  assert.deepEqual(seen[0]!.headers, ['host']);
  assert.ok(seen[1]!.headers.includes('x-keyhold-list-method'), "the client's own field passes as sent");
});

test('with the view on, Node still times out a header sent slowly on a keep-alive connection (408 and close)', async (t) => {
  const server = createHttpServer({ headersTimeout: 600, requestTimeout: 1200, connectionsCheckingInterval: 100, keepAliveTimeout: 5000 }, (req, res) => res.end('ok'));
  acceptListMethod(server, { listAsGet: () => true });
  const port = await listen(server);
  t.after(() => close(server));
  const socket = netConnect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  socket.on('error', () => {});
  socket.write('GET /first HTTP/1.1\r\nHost: h\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  let open = true;
  void closed.then(() => (open = false));
  // One byte every 150 ms keeps the idle timer alive; only the header timeout can end this.
  const slow = 'GET /second HTTP/1.1\r\nHost: h\r\nX-Pad: ' + 'a'.repeat(100);
  for (let k = 0; k < slow.length && open && Date.now() - started < 6000; k++) {
    socket.write(slow[k]!);
    await new Promise((r) => setTimeout(r, 150));
  }
  const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 1000))]);
  assert.ok(at > 0 && at - started < 4000, `closed by the header timeout (after ${at - started} ms)`);
  assert.deepEqual(got.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200', 'HTTP/1.1 408']);
});

test('a LIST the view doubts after it began rewriting is refused by Node (400), never served', async (t) => {
  const server = createHttpServer(echo);
  acceptListMethod(server, { listAsGet: () => true });
  const port = await listen(server);
  t.after(() => close(server));
  for (const request of ['LIST /a#b HTTP/1.1\r\nHost: h\r\n\r\n', 'LIST /a\r\nHost: h\r\n\r\n', 'LIST /a HTTP/1.1\r\nHost: h\r\n x\r\n\r\n', 'LIST /a HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n']) {
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const answers = await exchange(socket, [Buffer.from(request, 'latin1')]);
    assert.deepEqual(answers.map((a) => a.status), [400], JSON.stringify(request));
  }
});
