/**
 * H1 (issue 15): requests with malformed framing, sent over a raw TCP socket
 * to a real listening server, are audited with every request fact defined;
 * the log verifies afterwards and the server restarts on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { startServer, type RunningKeyhold } from '../../src/api/server.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli } from '../helpers/cli.js';
import { readLog } from './checkpoint-fixtures.js';

/** Sends raw bytes and resolves with whatever came back when the server closes the socket (or after a short wait). */
function raw(port: number, bytes: string, waitMs = 400): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(bytes);
      // Half-close at once: the request's socket is gone by the time its answer is audited.
      socket.end();
    });
    const done = () => resolve(answer);
    socket.on('close', done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, waitMs);
  });
}

/** The config of a server listening on loopback (random ports) on `dir`/k.db, auditing to `dir`/audit.log with a checkpoint every `every` entries. */
function auditedConfig(dir: string, every: number) {
  const file = join(dir, 'audit.log');
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db') },
    listeners: { api: { host: '127.0.0.1', port: 0 }, health: { port: 0 } },
    log: { level: 'silent' },
    audit: { file, checkpointEvery: every },
  });
  return { file, config };
}

const MALFORMED = [
  'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\n{"a":\r\n0\r\n\r\n',
  'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc',
  'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":"a"',
  'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
  'POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n',
  'GET /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n',
];

test('malformed framings on a real socket: every audit entry is JSON with its request facts, the log verifies, the server restarts', async (t) => {
  const dir = tempDir(t);
  const { file, config } = auditedConfig(dir, 5);
  let server: RunningKeyhold = await startServer(config, { logger: false });
  t.after(() => server.close());
  const { shares, rootToken } = await initVault(server, 1, 1);
  await unsealVault(server, shares);
  const port = Number(new URL(server.apiUrl).port);
  for (const bytes of MALFORMED) await raw(port, bytes);
  await new Promise((r) => setTimeout(r, 300));
  const lines = readLog(file);
  for (const [i, line] of lines.entries()) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.type === 'refused' || entry.type === 'request') {
      for (const field of ['requestId', 'method', 'route', 'remoteAddress']) assert.equal(typeof entry[field], 'string', `line ${i + 1} ${field}: ${line}`);
    }
  }
  assert.ok(lines.some((l) => (JSON.parse(l) as { type?: string }).type === 'refused'), 'the malformed requests were audited');

  const { publicKey } = (await server.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers: bearer(rootToken) })).json() as { publicKey: string };
  const pem = join(dir, 'audit.pem');
  writeFileSync(pem, publicKey);
  await server.close();
  const verify = await runCli(['audit', 'verify', file, '--public-key', pem]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // The node restarts on its log and keeps extending the same file.
  server = await startServer(config, { logger: false });
  await unsealVault(server, shares);
  const r = await server.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'after-restart' } });
  assert.equal(r.statusCode, 200);
  await server.close();
  const again = await runCli(['audit', 'verify', file, '--public-key', pem]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
});

test('property: random malformed framings on a real socket never put a non-JSON line or an undefined fact in the audit log, nor get a 5xx', async (t) => {
  const dir = tempDir(t);
  const { file, config } = auditedConfig(dir, 7);
  const server = await startServer(config, { logger: false });
  t.after(() => server.close());
  const { shares, rootToken } = await initVault(server, 1, 1);
  await unsealVault(server, shares);
  const port = Number(new URL(server.apiUrl).port);
  const header = fc.oneof(
    fc.constantFrom('chunked', 'xchunked', 'chunked, identity', ' chunked', 'CHUNKED', 'gzip, chunked', 'identity', 'chunked\tx').map((v) => `Transfer-Encoding: ${v}`),
    fc.constantFrom('0', '5', '-1', 'abc', '99999', '1, 2', '+3').map((v) => `Content-Length: ${v}`),
    fc.constantFrom('application/json', 'text/plain', 'application/json; charset=x', '').map((v) => `Content-Type: ${v}`),
    fc.constant(`Authorization: Bearer ${rootToken}`),
  );
  const request = fc.record({
    method: fc.constantFrom('POST', 'GET', 'PUT', 'DELETE'),
    path: fc.constantFrom('/v1/auth/login', '/v1/keys', '/v1/keys/k/encrypt', '/v1/sys/rotate', '/v1/secrets/data/a'),
    headers: fc.array(header, { maxLength: 4 }),
    body: fc.string({ maxLength: 40 }),
  });
  const answers: string[] = [];
  await fc.assert(
    fc.asyncProperty(request, async ({ method, path, headers, body }) => {
      answers.push(await raw(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`, 250));
    }),
    { numRuns: 40 },
  );
  await new Promise((r) => setTimeout(r, 300));
  for (const a of answers) assert.doesNotMatch(a, /^HTTP\/1\.1 5\d\d/, a.slice(0, 200));
  for (const line of readLog(file)) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.type === 'refused' || entry.type === 'request') for (const f of ['requestId', 'method', 'route']) assert.equal(typeof entry[f], 'string', line);
    if (entry.type === 'refused' || entry.type === 'request') assert.ok(typeof entry.remoteAddress === 'string' || entry.remoteAddress === null, line);
  }
  const { publicKey } = (await server.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers: bearer(rootToken) })).json() as { publicKey: string };
  await server.close();
  const { verifyLines } = await import('../../src/audit/audit-chain.js');
  const { checkpointVerifier } = await import('../../src/audit/checkpoint.js');
  const r = verifyLines(readLog(file), { publicKey: checkpointVerifier(publicKey) });
  assert.ok(r.ok, JSON.stringify(r.damaged.slice(0, 5)));
});
