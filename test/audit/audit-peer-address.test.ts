/**
 * The audit entry's remoteAddress is the client's, with the LIST framing view
 * (listeners.api.acceptListMethod) on and off, for requests whose client
 * half-closes at once (the socket may be gone when the entry is written) and
 * for a LIST read through the view (issue 16 review F7).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { startServer } from '../../src/api/server.js';
import { initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { readLog } from './checkpoint-fixtures.js';

/** Sends raw bytes (half-closing at once when `hangUp`) and resolves with the answer when the server closes (or after a short wait). */
function raw(port: number, bytes: string, hangUp = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', () => undefined);
    socket.on('connect', () => (hangUp ? socket.end(bytes) : socket.write(bytes)));
    const timer = setTimeout(() => socket.destroy(), 20_000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

for (const acceptListMethod of [true, false]) {
  test(`audit entries carry the client's address with the LIST view ${acceptListMethod ? 'on' : 'off'}`, async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'audit.log');
    const config = resolveConfig({
      storage: { path: join(dir, 'k.db') },
      listeners: { api: { host: '127.0.0.1', port: 0, acceptListMethod }, health: { port: 0 } },
      log: { level: 'silent' },
      audit: { file },
    });
    const server = await startServer(config, { logger: false });
    t.after(() => server.close());
    const { shares, rootToken } = await initVault(server, 1, 1);
    await unsealVault(server, shares);
    const port = Number(new URL(server.apiUrl).port);
    const auth = `Authorization: Bearer ${rootToken}\r\n`;
    const get = await raw(port, `GET /v1/keys HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    assert.match(get, /^HTTP\/1\.1 200/);
    const list = await raw(port, `LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    assert.match(list, acceptListMethod ? /^HTTP\/1\.1 (200|404)/ : /^HTTP\/1\.1 400/);
    // A client that sends and hangs up at once: its socket may be gone when the entry is written.
    await raw(port, `GET /v1/keys HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, true);
    await new Promise((r) => setTimeout(r, 200));
    const entries = readLog(file)
      .map((l) => JSON.parse(l) as { type?: string; route?: string; remoteAddress?: unknown })
      .filter((e) => e.type === 'request' && (e.route === '/v1/keys' || e.route?.startsWith('/v1/transit/') === true));
    assert.ok(entries.length >= (acceptListMethod ? 3 : 2), JSON.stringify(entries));
    for (const e of entries) assert.equal(e.remoteAddress, '127.0.0.1', JSON.stringify(e));
  });
}
