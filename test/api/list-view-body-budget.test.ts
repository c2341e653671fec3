/**
 * A large-body reservation is given back even when the connection dies before
 * the preParsing hook takes it (a framing llhttp refuses only after the head,
 * e.g. `Transfer-Encoding: identity`, or a client that hangs up while the
 * onRequest hooks run): the response's 'close' is then already past. Before
 * the fix each such request kept its reservation, so one address soon got
 * 503 KH_BUSY for every large body and four addresses took the whole budget.
 * The LIST framing view's timing exposed it (malformed-framing property, seed
 * 17222875); both configurations are checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { installRequestLimits } from '../../src/api/request-limits.js';
import { runningVault } from '../helpers/keyhold.js';

function send(port: number, bytes: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString('latin1')));
    s.on('error', () => undefined);
    s.write(bytes);
    setTimeout(() => {
      s.destroy();
      resolve(out.slice(0, 12));
    }, ms);
  });
}

const post = (headers: string, body = ''): string => `POST /v1/enclave/post HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;

for (const view of [false, true]) {
  test(
    `bodies that never arrive give their large-body reservation back when the client hangs up (LIST view ${view ? 'on' : 'off'})`,
    async (t) => {
      const { server } = await runningVault(t, { enclave: { provider: 'simulated' }, listeners: { api: { port: 0, acceptListMethod: view }, health: { port: 0 } } });
      const port = Number(new URL(server.apiUrl).port);
      const shapes = ['Transfer-Encoding: gzip, chunked\r\n', 'Transfer-Encoding: identity\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 65537\r\n'];
      for (const shape of shapes) {
        await send(port, post(shape), 300);
        const probe = await send(port, post('Content-Length: 65537\r\n'), 300);
        assert.notEqual(probe, 'HTTP/1.1 503', `after ${JSON.stringify(shape)} a fresh large body was refused: a reservation was kept`);
      }
    },
  );
}

test('a large body pipelined behind a slow answer gives its reservation back when the connection dies; an in-process request keeps it until answered', async (t) => {
  const app = Fastify({ logger: false });
  const limits = installRequestLimits(app, { publicRequests: { burst: 1000, perSecond: 1000 }, largeBodyBudgetBytes: 4 * 1024 * 1024, defaultBodyLimit: 1024 * 1024 });
  app.post('/slow', { config: { auth: 'none' } }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { ok: true };
  });
  let heldDuringHandler = 0;
  app.post('/big', { config: { auth: 'none' }, bodyLimit: 1024 * 1024 }, async () => {
    heldDuringHandler = limits.budget.inUse;
    return { ok: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const port = (app.server.address() as AddressInfo).port;
  for (let i = 0; i < 3; i++) {
    // One write: the slow request, then a large one whose response queues behind it, its body cut short.
    const slow = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    const big = `POST /big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"a":"${'x'.repeat(1000)}`;
    await send(port, slow + big, 50);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(limits.budget.inUse, 0, 'a reservation outlived its connection');
  const body = JSON.stringify({ a: 'x'.repeat(100_000) });
  const answer = await app.inject({ method: 'POST', url: '/big', payload: body, headers: { 'content-type': 'application/json' } });
  assert.equal(answer.statusCode, 200);
  assert.equal(heldDuringHandler, Buffer.byteLength(body), 'an in-process request is counted while it runs');
  assert.equal(limits.budget.inUse, 0);
});
