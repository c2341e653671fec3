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
import { connect } from 'node:net';
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
