/** `keyhold server --dev` as a newcomer runs it: one command to a ready vault; SIGTERM stops it cleanly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp-dir.js';
import { startCliServer, waitExit } from '../helpers/cli.js';

const READY = /API:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*Health:\s+(http:\/\/127\.0\.0\.1:\d+)\/health[\s\S]*Root token:\s+(\S+)[\s\S]*Stop with Ctrl-C/;

test('dev mode starts initialised and unsealed, prints a working root token, and restarts on the same data dir', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const args = ['--dev', '--data-dir', dataDir, '--api-port', '0', '--health-port', '0', '--dev-root-token', 'dev-token-1'];
  // Node's default V8 tiers here (test processes run WebAssembly unoptimised, ts-entry.ts): one server of
  // the suite runs Cedar as production does, through the optimising compiler.
  const first = await startCliServer(args, READY, { nodeDefaults: true });
  t.after(() => first.child.kill('SIGKILL'));
  const [, api, health, token] = first.match;
  assert.equal(token, 'dev-token-1');
  assert.equal((await fetch(`${health}/health`)).status, 200);
  const r = await fetch(`${api}/v1/sys/tools/random`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ bytes: 16 }),
  });
  assert.equal(r.status, 200);
  assert.equal(Buffer.from(((await r.json()) as { random: string }).random, 'base64').length, 16);
  const docs = await fetch(`${api}/docs/json`);
  assert.equal(docs.status, 200);
  // The dev credentials file is private to the user.
  assert.equal(statSync(join(dataDir, 'dev-credentials.json')).mode & 0o077, 0);

  first.child.kill('SIGTERM');
  assert.equal(await waitExit(first.child), 0, 'SIGTERM exits 0 after a graceful shutdown');

  const second = await startCliServer(args, READY);
  t.after(() => second.child.kill('SIGKILL'));
  const [, api2] = second.match;
  const ks = await fetch(`${api2}/v1/sys/key-status`, { headers: { authorization: 'Bearer dev-token-1' } });
  assert.equal(ks.status, 200);
  second.child.kill('SIGINT');
  assert.equal(await waitExit(second.child), 0);
  assert.ok(existsSync(join(dataDir, 'keyhold.db')));
});

test('a non-dev server without a config starts sealed and uninitialised on loopback', async (t) => {
  const dir = tempDir(t);
  const s = await startCliServer(['--api-port', '0', '--health-port', '0', '--log-level', 'silent'], /listening on (http:\/\/127\.0\.0\.1:\d+) \(health (http:\/\/127\.0\.0\.1:\d+)\)/, {
    env: { KEYHOLD_STORAGE_PATH: join(dir, 'k.db') },
  });
  t.after(() => s.child.kill('SIGKILL'));
  const [, api, health] = s.match;
  assert.equal((await fetch(`${health}/health`)).status, 501);
  const refused = await fetch(`${api}/v1/sys/key-status`);
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'KH_SEALED');
  s.child.kill('SIGTERM');
  assert.equal(await waitExit(s.child), 0);
});
