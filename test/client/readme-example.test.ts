/**
 * The README's SDK example against the SDK's sources and an in-process server with the
 * simulated enclave: quick, and needs no build. test/docs/readme-examples.test.ts runs the same
 * block exactly as printed, from the package `npm pack` makes, against `npm run dev`; here the
 * one change is where `keyhold/client` comes from (src/, through tsx).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureBuild } from '../../src/attestation/simulated/measure.js';
import { runningVault } from '../helpers/keyhold.js';
import { fencedBlocks } from '../docs/fenced-examples.js';

import { REPO_ROOT } from '../helpers/repo-root.js';

test('the README SDK example encrypts and decrypts through the verified channel', async (t) => {
  const { server, dir, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' } });
  const blocks = fencedBlocks('README.md', readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  const sdk = blocks.filter((b) => b.example.kind === 'node' && b.example.file === 'sdk-example.mjs');
  assert.equal(sdk.length, 1, 'the README has one SDK example, marked "node sdk-example.mjs"');
  const source = sdk[0]!.code.replace("from 'keyhold/client'", `from ${JSON.stringify(join(REPO_ROOT, 'src', 'client', 'index.ts'))}`);
  assert.notEqual(source, sdk[0]!.code, 'the example imports keyhold/client');
  const file = join(dir, 'sdk-example.mjs');
  writeFileSync(file, source);
  const pcr0 = Buffer.from(measureBuild().pcrs.get(0)!).toString('hex');
  // The variables the README has the reader export (the dev server's export line, SIM_ROOT, EXPECTED_PCR0).
  // Async: the server runs in this process and must keep answering while the example runs.
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, KEYHOLD_ADDR: server.apiUrl, KEYHOLD_TOKEN: rootToken, EXPECTED_PCR0: pcr0, SIM_ROOT: join(dir, 'enclave-sim', 'root-cert.pem') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(out, /^keyhold:v1:\S+ card 4111$/m);
  assert.match(out, /^KH_DECRYPT_FAILED$/m);
});
