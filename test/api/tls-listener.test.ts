/** End-to-end over real sockets: TLS on the API port, mTLS when configured, plain HTTP health port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { startServer } from '../../src/api/server.js';
import { tempDir } from '../helpers/temp-dir.js';
import { makePki, type Pki } from '../helpers/pki.js';

function get(url: string, opts: { ca: string; cert?: string; key?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: readFileSync(opts.ca),
        ...(opts.cert ? { cert: readFileSync(opts.cert), key: readFileSync(opts.key!) } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
}

async function tlsServer(t: Parameters<typeof tempDir>[0], pki: Pki, mtls: boolean) {
  const dir = tempDir(t);
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db') },
    listeners: {
      api: { host: '127.0.0.1', port: 0, tls: { certFile: pki.serverCert, keyFile: pki.serverKey, ...(mtls ? { clientCaFile: pki.caCert, requireClientCert: true } : {}) } },
      health: { host: '127.0.0.1', port: 0 },
    },
    log: { level: 'silent' },
  });
  const server = await startServer(config, { logger: false });
  t.after(() => server.close());
  return server;
}

test('the API port serves TLS with the configured certificate', async (t) => {
  const pki = makePki(tempDir(t));
  const server = await tlsServer(t, pki, false);
  assert.match(server.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await get(`${server.apiUrl}/v1/sys/seal-status`, { ca: pki.caCert });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).initialized, false);
  const health = await fetch(`${server.healthUrl}/health`);
  assert.equal(health.status, 501);
});

test('with mTLS required, only clients with a certificate from the configured CA get through', async (t) => {
  const pki = makePki(tempDir(t));
  const server = await tlsServer(t, pki, true);
  const ok = await get(`${server.apiUrl}/v1/sys/seal-status`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
  assert.equal(ok.status, 200);
  await assert.rejects(get(`${server.apiUrl}/v1/sys/seal-status`, { ca: pki.caCert }));
  await assert.rejects(get(`${server.apiUrl}/v1/sys/seal-status`, { ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey }));
});

test('plain HTTP on the API port is refused unless the listener is loopback', () => {
  assert.throws(() => resolveConfig({ listeners: { api: { host: '0.0.0.0' } } }), { code: 'KH_CONFIG_INVALID' });
  assert.throws(() => resolveConfig({ listeners: { api: { host: '10.0.0.5' } } }), { code: 'KH_CONFIG_INVALID' });
  assert.doesNotThrow(() => resolveConfig({ listeners: { api: { host: '127.0.0.1' } } }));
  assert.doesNotThrow(() => resolveConfig({ listeners: { api: { host: '::1' } } }));
  assert.doesNotThrow(() => resolveConfig({ listeners: { api: { host: '0.0.0.0', tls: { certFile: 'a', keyFile: 'b' } } } }));
});
