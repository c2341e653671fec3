/**
 * `keyhold server --dev` without --data-dir keeps its vault (and the
 * credentials file that defeats the seal) in a temp dir that goes when the
 * server stops, by signal or by a failed start; a busy port is named with
 * --api-port. The children's TMPDIR is a folder of this file, so nothing
 * else in the system temp dir is looked at (one for the file: tsx keeps its
 * compile cache there, and a fresh cache costs the first start ~20 s).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { runCliProcess, startCliServer, waitExit } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'keyhold-test-tmpdir-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const devDirs = () => readdirSync(tmp).filter((f) => f.startsWith('keyhold-dev-'));

const READY = /Data dir:\s+(\S+)[\s\S]*temporary: removed when the server stops[\s\S]*Stop with Ctrl-C/;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`the temporary data dir of a dev server is removed on ${signal}`, async (t) => {
    const s = await startCliServer(['--dev', '--api-port', '0', '--health-port', '0'], READY, { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
    t.after(() => s.child.kill('SIGKILL'));
    const dataDir = s.match[1]!;
    assert.ok(dataDir.startsWith(tmp), `${dataDir} is under the child's TMPDIR`);
    assert.ok(existsSync(`${dataDir}/dev-credentials.json`));
    s.child.kill(signal);
    assert.equal(await waitExit(s.child), 0);
    assert.equal(existsSync(dataDir), false, 'removed, credentials file and all');
    assert.deepEqual(devDirs(), []);
  });
}

test('a dev server that cannot start (busy port) names --api-port and leaves no temp dir behind', async (t) => {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const port = (squatter.address() as AddressInfo).port;
  const r = await runCliProcess(['server', '--dev', '--api-port', String(port), '--health-port', '0'], { TMPDIR: tmp });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^Error KH_LISTEN_ADDRESS_IN_USE: the api port ${port} .*--api-port`, 'm'));
  assert.deepEqual(devDirs(), [], 'the temp data dir was removed');
});
