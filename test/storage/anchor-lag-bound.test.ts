/**
 * A rollback anchor that cannot be written must not stretch the window in
 * which a rollback goes undetected without limit (issue 15, review 8): past
 * storage.rollbackAnchor.maxLagGenerations (or maxLagSeconds) writes are
 * refused with 503 KH_STORAGE_ANCHOR_UNAVAILABLE, reads keep working, and
 * writes resume once the anchor catches up (retried on a timer).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { bearer, initVault, unsealVault, TEST_LIMITS } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const until = async (what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const stop = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > stop) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

async function vault(t: TestContext, bound: { maxLagGenerations?: number; maxLagSeconds?: number }) {
  const dir = tempDir(t);
  const anchor = join(dir, 'anchor', 'keyhold.anchor');
  mkdirSync(join(dir, 'anchor'));
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db'), rollbackAnchor: { file: anchor, ...bound } },
    listeners: { api: { port: 0 }, health: { port: 0 } },
    log: { level: 'silent' },
    limits: TEST_LIMITS,
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  const root = bearer(rootToken);
  // The anchor is written as a temp file then renamed: a folder in the temp file's place makes every write fail (even as root).
  const tmp = join(dir, 'anchor', '.keyhold.anchor.tmp');
  return {
    app,
    root,
    block: () => mkdirSync(tmp),
    unblock: () => rmSync(tmp, { recursive: true }),
    createKey: (name: string) => app.api.inject({ method: 'POST', url: '/v1/keys', headers: root, payload: { name, type: 'aes256-gcm' } }),
  };
}

test('an unwritable file anchor: writes are refused with 503 KH_STORAGE_ANCHOR_UNAVAILABLE past maxLagGenerations, reads still work, writes resume when it catches up', async (t) => {
  const v = await vault(t, { maxLagGenerations: 3 });
  assert.equal((await v.createKey('before')).statusCode, 200);
  await v.app.services.barrier.flushAnchors();
  v.block();
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push((await v.createKey(`k${i}`)).statusCode);
  // Each key creation is at least one generation: within three generations of lag writes still land, then every one is refused.
  assert.ok(codes.slice(0, 1).every((c) => c === 200), `first writes land: ${codes.join(',')}`);
  const refused = await v.createKey('refused');
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.json().error.code, 'KH_STORAGE_ANCHOR_UNAVAILABLE');
  assert.ok(!refused.body.includes(' at '), 'no stack trace');
  assert.equal((await v.app.api.inject({ method: 'GET', url: '/v1/keys/before', headers: v.root })).statusCode, 200, 'reads keep working');
  v.unblock();
  await until('writes to resume', async () => (await v.createKey('after')).statusCode === 200);
});

test('an unwritable file anchor: writes are refused once it has lagged for maxLagSeconds, even under few writes', async (t) => {
  const v = await vault(t, { maxLagGenerations: 1_000_000, maxLagSeconds: 1 });
  await v.app.services.barrier.flushAnchors();
  v.block();
  assert.equal((await v.createKey('first')).statusCode, 200);
  await new Promise((r) => setTimeout(r, 1500));
  const refused = await v.createKey('late');
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.json().error.code, 'KH_STORAGE_ANCHOR_UNAVAILABLE');
  v.unblock();
  await until('writes to resume', async () => (await v.createKey('after')).statusCode === 200);
});
