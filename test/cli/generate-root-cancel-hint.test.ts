/**
 * A one-shot `operator generate-root` that fails leaves its generation open
 * on the server, and every later run is refused until it is cancelled: the
 * errors name --cancel (and the nonce to continue with) whenever a
 * generation is left open, and do not when the server already ended it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { initVault, listeningVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCli } from '../helpers/cli.js';

async function vault(t: TestContext): Promise<{ env: Record<string, string>; shares: string[] }> {
  const server = await listeningVault(t, tempDir(t));
  const { shares } = await initVault(server, 3, 2);
  await unsealVault(server, shares.slice(0, 2));
  return { env: { KEYHOLD_ADDR: server.apiUrl }, shares };
}

test('a failed one-shot generate-root names --cancel and the nonce; the next run is refused naming --cancel; after --cancel it works', async (t) => {
  const { env, shares } = await vault(t);
  const malformed = await runCli(['operator', 'generate-root'], env, 'not-a-share\n');
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /^Error KH_UNSEAL_SHARE_MALFORMED: .*still in progress: continue it with --nonce \S+, or cancel it with `keyhold operator generate-root --cancel`/);

  const refused = await runCli(['operator', 'generate-root'], env, `${shares[0]}\n${shares[1]}\n`);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^Error KH_ROOT_GENERATION_IN_PROGRESS: .*cancel it with `keyhold operator generate-root --cancel`/);

  assert.equal((await runCli(['operator', 'generate-root', '--cancel'], env)).code, 0);
  const minted = await runCli(['operator', 'generate-root'], env, `${shares[0]}\n${shares[1]}\n`);
  assert.equal(minted.code, 0, minted.stderr);
  assert.match(minted.stdout, /^New root token: /);
});

test('shares that reach the threshold but are wrong end the generation on the server: no --cancel hint, and the next run starts afresh', async (t) => {
  const { env, shares } = await vault(t);
  const other = await vault(t);
  const wrong = await runCli(['operator', 'generate-root'], env, `${other.shares[0]}\n${other.shares[1]}\n`);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^Error KH_UNSEAL_FAILED: /);
  assert.doesNotMatch(wrong.stderr, /--cancel/);
  assert.equal((await runCli(['operator', 'generate-root'], env, `${shares[1]}\n${shares[2]}\n`)).code, 0);
});
