/**
 * Issue 15 M3 on the end-to-end channel, against a listening server:
 * POST /v1/enclave/post is public and answers while sealed, so its limit is
 * sized from the largest inner request (not more), concurrent large bodies
 * share a budget (503 KH_BUSY with Retry-After beyond it, before the body is
 * read), /health keeps answering meanwhile, and a deep inner plaintext is
 * refused like a deep direct body (KH_BODY_TOO_DEEP), never a 5xx.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { MAX_INNER_WRAPPING_BYTES } from '../../src/api/enclave/inner-request.js';
import { itemBodyLimit } from '../../src/api/v1/inputs.js';
import { runningVault, bearer } from '../helpers/keyhold.js';
import { fetchServerKey, innerRequestJson, openResponse, sealRequest } from './independent-e2e-client.js';

/** Sends headers and `sent` bytes of a body declared `length` long, and keeps the socket open (holding the server's budget). */
function holdOpen(port: number, length: number, sent: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /v1/enclave/post HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
      socket.write('{"ciphertext":"' + 'a'.repeat(sent));
      setTimeout(() => resolve(socket), 300);
    });
    socket.on('error', () => undefined);
  });
}

function post(url: string, length: number): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(length) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
    req.on('error', reject);
    const payload = Buffer.alloc(length, 'a');
    payload.write('{"ciphertext":"');
    payload.write('"}', length - 2);
    req.end(payload);
  });
}

test('the channel limit follows from the largest inner request, and oversized posts are refused unread', async (t) => {
  const { server } = await runningVault(t, { enclave: { provider: 'simulated' } });
  // The largest inner body is a /v1 key operation's (4 MiB plaintext, base64): the channel takes its hex plus wrapping.
  const limit = 2 * (itemBodyLimit(4 * 1024 * 1024) + MAX_INNER_WRAPPING_BYTES + 16) + 4096;
  const res = await new Promise<number>((resolve) => {
    const req = request(`${server.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(limit + 1) } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on('error', () => resolve(-1));
    req.write('{');
  });
  assert.equal(res, 413);
});

test('concurrent large channel posts share the body budget: 503 KH_BUSY with Retry-After, health answers, the budget comes back', async (t) => {
  const { server, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' }, limits: { largeBodyBudgetBytes: 1024 * 1024 } });
  const port = Number(new URL(server.apiUrl).port);
  const held = await holdOpen(port, 900_000, 100_000);
  const refused = await post(`${server.apiUrl}/v1/enclave/post`, 900_000);
  assert.equal(refused.status, 503, refused.body);
  assert.match(refused.body, /KH_BUSY/);
  assert.equal(refused.retryAfter, '1');
  // Small bodies never wait on the budget, and health is another port.
  assert.equal((await fetch(`${server.healthUrl}/health`)).status, 200);
  assert.equal((await post(`${server.apiUrl}/v1/enclave/post`, 1000)).status, 400);
  held.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const after = await post(`${server.apiUrl}/v1/enclave/post`, 900_000);
  assert.equal(after.status, 400, `the budget was given back when the held connection died: ${after.body}`);
  assert.match(after.body, /KH_BAD_REQUEST/, 'read and validated this time');

  // And a real channel request still works.
  const key = await fetchServerKey(server.apiUrl);
  const { envelope, ephemeralSecret } = sealRequest(key.publicKey, key.keyId, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: bearer(rootToken) }, Date.now()));
  const ok = await fetch(`${server.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  assert.equal(ok.status, 200);
  assert.equal(openResponse(ephemeralSecret, envelope.ephemeralPublicKey, await ok.json()).status, 200);
});

test('a deep inner request is refused with KH_BODY_TOO_DEEP, before it is parsed or dispatched', async (t) => {
  const { server, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' } });
  const key = await fetchServerKey(server.apiUrl);
  // 32 levels of body inside the inner request object: 33 in all.
  const deep = innerRequestJson({ method: 'POST', path: '/v1/keys', headers: bearer(rootToken), body: JSON.parse('['.repeat(32) + ']'.repeat(32)) as unknown }, Date.now());
  const { envelope } = sealRequest(key.publicKey, key.keyId, deep);
  const res = await fetch(`${server.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'KH_BODY_TOO_DEEP');
  // The outer body too.
  const outer = await fetch(`${server.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '['.repeat(40) + ']'.repeat(40) });
  assert.equal(((await outer.json()) as { error: { code: string } }).error.code, 'KH_BODY_TOO_DEEP');
});
