/**
 * The workload example the dev banner and the README show: `keyhold server
 * --dev`, `keyhold secret put dev/db password=...`, then `keyhold agent
 * --config <data-dir>/agent.yaml -- sh -c '...'` prints the password from the
 * environment and from the file, with nothing else configured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, startCliServer } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';

const READY = /API:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*Root token:\s+(\S+)[\s\S]*agent --config (\S+) -- sh -c '([^']+)'/;

test('the dev server provisions an attested workload with the agent, as its banner says', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const server = await startCliServer(['--dev', '--data-dir', dataDir, '--api-port', '0', '--health-port', '0', '--dev-root-token', 'dev-agent-token'], READY, { timeoutMs: 60_000 });
  t.after(() => server.child.kill('SIGKILL'));
  const [, api, token, agentConfig, script] = server.match;
  assert.equal(agentConfig, join(dataDir, 'agent.yaml'));
  const env = { KEYHOLD_ADDR: api!, KEYHOLD_TOKEN: token! };
  const put = await runCli(['secret', 'put', 'dev/db', 'password=dev-pw-7a7a'], env);
  assert.equal(put.code, 0, put.stderr);
  // The agent needs no token or address of its own: only its configuration.
  const agent = await runCli(['agent', '--config', agentConfig!, '--', 'sh', '-c', script!]);
  assert.equal(agent.code, 0, agent.stderr);
  assert.deepEqual(agent.stdout.trim().split('\n'), ['dev-pw-7a7a', 'dev-pw-7a7a']);
  assert.ok(!agent.stderr.includes('dev-pw-7a7a'), agent.stderr);
});
