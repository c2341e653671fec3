/** The SDK example in the README runs as written against a dev-like server with the simulated enclave. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measureBuild } from '../../src/attestation/simulated/measure.js';
import { runningVault } from '../helpers/keyhold.js';

test('the README SDK example encrypts and decrypts through the verified channel', async (t) => {
  const { server, dir, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' } });
  const readme = readFileSync('README.md', 'utf8');
  const block = /The same from code[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'the README has the SDK example');
  const source = block.replace("'keyhold/client'", JSON.stringify(resolve('src/client/index.ts'))).replace("'http://127.0.0.1:8080'", JSON.stringify(server.apiUrl));
  const file = join(dir, 'example.mts');
  writeFileSync(file, source);
  const pcr0 = Buffer.from(measureBuild().pcrs.get(0)!).toString('hex');
  // Async: the server runs in this process and must keep answering while the example runs.
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, KEYHOLD_TOKEN: rootToken, EXPECTED_PCR0: pcr0, SIM_ROOT: join(dir, 'enclave-sim', 'root-cert.pem') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(out, /^keyhold:v1:\S+ card 4111$/m);
  assert.match(out, /^KH_DECRYPT_FAILED$/m);
});
