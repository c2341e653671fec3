/**
 * The agent's connections after the vault's attestation is verified must
 * present the very TLS certificate the document bound: a pinned request to a
 * server with another certificate (one the CA would accept) is refused
 * before anything is sent; plain http is refused off loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makePki } from '../../helpers/pki.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { request, CliError } from '../../../src/cli/http-client.js';
import { loadAgentConfig } from '../../../src/cli/agent/agent-config.js';

test('a pinned request reaches only the server with the pinned certificate', async (t) => {
  const pki = makePki(tempDir(t));
  let hits = 0;
  const server = https.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (_req, res) => {
    hits++;
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const address = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const der = new X509Certificate(readFileSync(pki.serverCert)).raw;
  const right = createHash('sha256').update(der).digest('hex');
  const answer = await request({ address, caCert: pki.caCert, pinnedCertSha256: right }, 'GET', '/x');
  assert.deepEqual([answer.status, answer.body], [200, { ok: true }]);
  // Another certificate the same CA signed would pass the usual checks; the pin does not accept it.
  await assert.rejects(request({ address, caCert: pki.caCert, pinnedCertSha256: '00'.repeat(32) }, 'GET', '/x', { secret: 'never sent' }), (e: unknown) => e instanceof CliError && /another TLS certificate/.test(e.message));
  assert.equal(hits, 1, 'the refused request never reached the server');
});

test('plain http to a vault off this machine is refused unless the E2E channel carries the requests', (t) => {
  const dir = tempDir(t);
  const write = (address: string, e2e: boolean) => {
    const file = join(dir, `a-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ vault: { address, attestation: { expectPcrs: { 0: 'ab'.repeat(48) } }, e2e }, attestation: { provider: 'nsm' }, role: 'web', secrets: [{ path: 'web/db', env: { X: 'x' } }] }));
    return file;
  };
  assert.throws(() => loadAgentConfig(write('http://vault.internal:8080', false)), (e: unknown) => e instanceof CliError && e.code === 'KH_AGENT_CONFIG_INVALID' && /https/.test(e.message));
  assert.doesNotThrow(() => loadAgentConfig(write('http://vault.internal:8080', true)));
  assert.doesNotThrow(() => loadAgentConfig(write('http://127.0.0.1:8080', false)));
  assert.doesNotThrow(() => loadAgentConfig(write('https://vault.internal:8080', false)));
});
