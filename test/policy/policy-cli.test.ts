/**
 * `keyhold policy keygen | sign | schema | push | show`, run as a child
 * process as a user would; push and show talk to the policy routes on a
 * listening loopback server.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorBody } from '../../src/api/schemas.js';
import { installErrorHandlers } from '../../src/api/error-handler.js';
import { policyRoutes } from '../../src/api/sys/policy-routes.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { bundleSha256, verifyBundleSignature } from '../../src/policy/bundle.js';
import { loadTrustedKeys } from '../../src/policy/trusted-keys.js';
import { spawnRaw } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { bundleBytes, unsealedBarrier } from './policy-fixtures.js';
import { fixturePath } from '../helpers/vectors.js';
import { nodeArgsFor } from '../helpers/ts-entry.js';

// Absolute paths, so the child starts the same from any working directory.
const MAIN = nodeArgsFor(fixturePath(import.meta.url, 'policy-cli-main.ts'));

async function keyhold(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await spawnRaw(process.execPath, [...MAIN, ...args], {});
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

const POLICIES = 'permit(principal in Keyhold::Group::"ops", action in Keyhold::Action::"use", resource);';

test('keygen writes an owner-only Ed25519 key once and prints the public key; sign signs the exact bytes', async (t) => {
  const dir = tempDir(t);
  const keyFile = join(dir, 'policy.key');
  const gen = await keyhold(['policy', 'keygen', '--out', keyFile]);
  assert.equal(gen.code, 0, gen.stderr);
  assert.match(gen.stdout, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.match(readFileSync(keyFile, 'utf8'), /BEGIN PRIVATE KEY/);
  const again = await keyhold(['policy', 'keygen', '--out', keyFile]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; refusing to overwrite/);

  const bundleFile = join(dir, 'bundle.json');
  const bytes = bundleBytes({ version: 1, policies: POLICIES });
  writeFileSync(bundleFile, bytes);
  const keys = loadTrustedKeys([{ kid: 'ops-1', publicKey: gen.stdout }]);

  const toStdout = await keyhold(['policy', 'sign', bundleFile, '--key', keyFile, '--kid', 'ops-1']);
  assert.equal(toStdout.code, 0, toStdout.stderr);
  assert.deepEqual(await verifyBundleSignature(bytes, toStdout.stdout, keys), { kid: 'ops-1' });

  const sigFile = join(dir, 'bundle.jws');
  const toFile = await keyhold(['policy', 'sign', bundleFile, '--key', keyFile, '--kid', 'ops-1', '--out', sigFile]);
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.match(readFileSync(sigFile, 'utf8'), /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\n$/);
  assert.deepEqual(await verifyBundleSignature(bytes, readFileSync(sigFile, 'utf8'), keys), { kid: 'ops-1' });
});

test('sign refuses a bundle that would be refused by the server, and a wrong key file', async (t) => {
  const dir = tempDir(t);
  const keyFile = join(dir, 'k.pem');
  assert.equal((await keyhold(['policy', 'keygen', '--out', keyFile])).code, 0);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, bundleBytes({ version: 1, policies: 'permit(principal, action, resource) when { principal.team == "x" };' }));
  const sigFile = join(dir, 'bad.jws');
  const r = await keyhold(['policy', 'sign', bad, '--key', keyFile, '--kid', 'k', '--out', sigFile]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error KH_POLICY_INVALID: .*attribute `team`/);
  assert.equal(existsSync(sigFile), false);

  const malformed = join(dir, 'malformed.json');
  writeFileSync(malformed, '{"version": 1');
  assert.match((await keyhold(['policy', 'sign', malformed, '--key', keyFile, '--kid', 'k'])).stderr, /^Error KH_POLICY_BUNDLE_MALFORMED/);

  const good = join(dir, 'good.json');
  writeFileSync(good, bundleBytes({ version: 1, policies: POLICIES }));
  const notAKey = await keyhold(['policy', 'sign', good, '--key', good, '--kid', 'k']);
  assert.equal(notAKey.code, 2);
  assert.match(notAKey.stderr, /^Error KH_CLI_USAGE: --key/);
});

test('schema prints the Cedar schema', async () => {
  const r = await keyhold(['policy', 'schema']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^namespace Keyhold \{/);
  assert.match(r.stdout, /action "encrypt" in \[Action::"use"\]/);
});

async function server(t: TestContext, publicKey: string): Promise<string> {
  const { barrier } = await unsealedBarrier(t);
  const api = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
  api.addSchema(ErrorBody);
  installErrorHandlers(api);
  await api.register(policyRoutes, { policy: new PolicyEngine(barrier, [{ kid: 'ops-1', publicKey }]) });
  t.after(() => api.close());
  return api.listen({ host: '127.0.0.1', port: 0 });
}

test('push sends the exact bytes and signature; show prints the active bundle', async (t) => {
  const dir = tempDir(t);
  const keyFile = join(dir, 'policy.key');
  const publicKey = (await keyhold(['policy', 'keygen', '--out', keyFile])).stdout;
  const address = await server(t, publicKey);
  const bundleFile = join(dir, 'bundle.json');
  const bytes = bundleBytes({ version: 2, policies: POLICIES });
  writeFileSync(bundleFile, bytes);
  const sigFile = join(dir, 'bundle.jws');
  assert.equal((await keyhold(['policy', 'sign', bundleFile, '--key', keyFile, '--kid', 'ops-1', '--out', sigFile])).code, 0);

  const pushed = await keyhold(['-a', address, '-f', 'json', 'policy', 'push', bundleFile, sigFile]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.deepEqual(JSON.parse(pushed.stdout), { version: 2, sha256: bundleSha256(bytes) });

  const again = await keyhold(['-a', address, 'policy', 'push', bundleFile, sigFile]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^Error KH_POLICY_ROLLBACK/);

  const shown = await keyhold(['-a', address, 'policy', 'show']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^version\s+2$/m);
  assert.match(shown.stdout, /^source\s+pushed$/m);
  assert.ok(shown.stdout.trimEnd().endsWith(POLICIES), shown.stdout);
});
