/**
 * `keyhold agent` end to end, as a workload would run it: a listening vault
 * with the simulated enclave, a real `keyhold agent --config F -- node
 * workload.mjs` child process, and a workload that reports what it received.
 * Covers: env vars and files (0600, on tmpfs) reach the workload, a template
 * renders, a rotated secret reaches the running workload with SIGHUP, the
 * files are gone after exit, a workload with other measurements gets nothing
 * and never starts, a vault that does not match the pin is refused, an
 * unreachable vault ends after the configured attempts, and no secret value
 * appears in the agent's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { runningVault } from '../../helpers/keyhold.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { CLI_ARGS } from '../../helpers/cli.js';
import { verifyNitroDocument } from '../../../src/attestation/nitro/verify.js';

const WORKLOAD_PCRS = { 0: 'a1'.repeat(48), 1: 'b2'.repeat(48), 2: 'c3'.repeat(48) };

/** The workload: prints what it got as one JSON line, then again after each SIGHUP; exits 0 on SIGTERM or after `rounds` reports. */
const WORKLOAD = `
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
const dir = process.env.KEYHOLD_SECRETS_DIR;
const rounds = Number(process.argv[2] ?? 1);
let n = 0;
function report() {
  const file = join(dir, 'db-password');
  console.log(JSON.stringify({ env: process.env.DB_PASSWORD, user: process.env.DB_USER, file: readFileSync(file, 'utf8'), mode: (statSync(file).mode & 0o777).toString(8), conf: readFileSync(join(dir, 'app.conf'), 'utf8'), dir, leaked: Object.keys(process.env).filter((k) => k.startsWith('KEYHOLD_') && k !== 'KEYHOLD_SECRETS_DIR') }));
  if (++n >= rounds) process.exit(0);
}
process.on('SIGHUP', report);
process.on('SIGTERM', () => process.exit(0));
report();
setInterval(() => {}, 1000);
`;

interface Setup {
  address: string;
  rootToken: string;
  dir: string;
  vaultPcr0: string;
  write: (path: string, body: unknown) => Promise<void>;
  auditFile: string;
}

async function setup(t: Parameters<typeof runningVault>[0]): Promise<Setup> {
  const auditDir = tempDir(t);
  const { server, rootToken, dir } = await runningVault(t, {
    audit: { file: join(auditDir, 'audit.log') },
    enclave: { provider: 'simulated', trustSimulatedRoot: true },
    auth: { attestRoles: { web: { pcrs: { 0: WORKLOAD_PCRS[0] } } } },
  });
  const address = server.apiUrl;
  const att = (await (await fetch(`${address}/v1/enclave/attestation?nonce=00`)).json()) as { attestation: string };
  const root = new X509Certificate(readFileSync(join(dir, 'enclave-sim', 'root-cert.pem')));
  const doc = verifyNitroDocument(Buffer.from(att.attestation, 'base64'), { trustedRoots: [root] });
  const write = async (path: string, body: unknown) => {
    const r = await fetch(`${address}/v1/secrets/data/${path}`, { method: 'POST', headers: { authorization: `Bearer ${rootToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, await r.text());
  };
  return { address, rootToken, dir, vaultPcr0: Buffer.from(doc.pcrs.get(0)!).toString('hex'), write, auditFile: join(auditDir, 'audit.log') };
}

function agentConfig(s: Setup, overrides: { pcrs?: Record<number, string>; expectPcr0?: string; address?: string; attempts?: number; template?: string; extraSecrets?: unknown[]; e2e?: boolean; outputDir?: string } = {}): string {
  const dir = tempDir({ after: () => undefined });
  writeFileSync(join(dir, 'app.conf.tmpl'), overrides.template ?? 'user={{ secret "web/db" "user" }}\npassword={{ secret "web/db" "password" }}\n');
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      vault: { address: overrides.address ?? s.address, attestation: { expectPcrs: { 0: overrides.expectPcr0 ?? s.vaultPcr0 }, roots: [join(s.dir, 'enclave-sim', 'root-cert.pem')] }, e2e: overrides.e2e ?? false },
      attestation: { provider: 'simulated', simulated: { rootDir: join(s.dir, 'enclave-sim'), pcrs: overrides.pcrs ?? WORKLOAD_PCRS } },
      role: 'web',
      secrets: [{ path: 'web/db', env: { DB_PASSWORD: 'password', DB_USER: 'user' }, files: { 'db-password': 'password' } }, ...(overrides.extraSecrets ?? [])],
      templates: [{ source: 'app.conf.tmpl', destination: 'app.conf' }],
      refresh: { intervalSeconds: 1 },
      ...(overrides.outputDir !== undefined && { output: { dir: overrides.outputDir } }),
      startup: { attempts: overrides.attempts ?? 3 },
    }),
  );
  writeFileSync(join(dir, 'workload.mjs'), WORKLOAD);
  return file;
}

interface AgentProcess {
  lines: () => string[];
  stderr: () => string;
  exited: Promise<number | null>;
  nextLine: () => Promise<string>;
}

function startAgent(config: string, rounds = 1): AgentProcess {
  const child = spawn(process.execPath, [...CLI_ARGS, 'agent', '--config', config, '--', process.execPath, join(config, '..', 'workload.mjs'), String(rounds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const lines = () => out.split('\n').filter((l) => l !== '');
  let consumed = 0;
  const nextLine = async (): Promise<string> => {
    const deadline = Date.now() + 60_000;
    while (lines().length <= consumed) {
      if (Date.now() > deadline) throw new Error(`no workload output; agent stderr:\n${err}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited.then(() => undefined), new Promise((r) => setTimeout(r, 500))]);
      if (child.exitCode !== null && lines().length <= consumed) throw new Error(`agent exited ${child.exitCode}:\n${err}`);
    }
    return lines()[consumed++]!;
  };
  return { lines, stderr: () => err, exited, nextLine };
}

test('the workload gets its env vars, 0600 files on tmpfs and a rendered template; a rotation reaches it; the files are gone after exit', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'first-pw-5d1c' } });
  const agent = startAgent(agentConfig(s), 2);
  const first = JSON.parse(await agent.nextLine()) as { env: string; user: string; file: string; mode: string; conf: string; dir: string; leaked: string[] };
  assert.equal(first.env, 'first-pw-5d1c');
  assert.equal(first.user, 'app');
  assert.equal(first.file, 'first-pw-5d1c');
  assert.equal(first.mode, '600');
  assert.equal(first.conf, 'user=app\npassword=first-pw-5d1c\n');
  assert.ok(first.dir.startsWith('/dev/shm/') || first.dir.startsWith(process.env.XDG_RUNTIME_DIR ?? '/nonexistent'), first.dir);
  assert.deepEqual(first.leaked, [], "the agent's own configuration is not passed on");

  // A new version: the running workload is signalled and reads it from the same files.
  await s.write('web/db', { data: { user: 'app', password: 'rotated-pw-8e2f' } });
  const second = JSON.parse(await agent.nextLine()) as { env: string; file: string; conf: string };
  assert.equal(second.file, 'rotated-pw-8e2f');
  assert.equal(second.conf, 'user=app\npassword=rotated-pw-8e2f\n');
  assert.equal(second.env, 'first-pw-5d1c', 'an environment cannot change under a running process (documented)');

  assert.equal(await agent.exited, 0);
  assert.equal(existsSync(first.dir), false, 'the secrets folder is wiped when the workload exits');
  for (const secret of ['first-pw-5d1c', 'rotated-pw-8e2f']) assert.ok(!agent.stderr().includes(secret), `the agent logged a secret: ${agent.stderr()}`);
});

test('with vault.e2e the login and every read travel through the end-to-end channel', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'channel-pw-1d1d' } });
  const agent = startAgent(agentConfig(s, { e2e: true }));
  const report = JSON.parse(await agent.nextLine()) as { file: string };
  assert.equal(report.file, 'channel-pw-1d1d');
  assert.equal(await agent.exited, 0);
  // The audit log marks what arrived through the channel: the workload's read did.
  const entries = readFileSync(s.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const reads = entries.filter((e) => JSON.stringify(e).includes('readSecret'));
  assert.ok(reads.length > 0, 'the read is audited');
  assert.ok(reads.every((e) => JSON.stringify(e).includes('"e2e"')), JSON.stringify(reads).slice(0, 500));
});

test('a secret with a release policy reaches the workload sealed to a key only the agent holds', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'pw-6f6f' } });
  await s.write('web/disk', { files: { 'disk.key': Buffer.from('disk-key-0a0b0c').toString('base64') } });
  const meta = await fetch(`${s.address}/v1/secrets/metadata/web/disk`, { method: 'POST', headers: { authorization: `Bearer ${s.rootToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ releasePolicy: { pcrs: { 0: WORKLOAD_PCRS[0] } } }) });
  assert.equal(meta.status, 200, await meta.text());
  const agent = startAgent(agentConfig(s, { extraSecrets: [{ path: 'web/disk', files: { 'disk.key': 'disk.key' } }], template: '{{ secret "web/disk" "disk.key" }}' }));
  const report = JSON.parse(await agent.nextLine()) as { conf: string };
  assert.equal(report.conf, 'disk-key-0a0b0c');
  assert.equal(await agent.exited, 0);
});

test('a workload with other measurements gets nothing and is never started', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'never-seen-2b7a' } });
  const agent = startAgent(agentConfig(s, { pcrs: { 0: 'ee'.repeat(48), 1: 'b2'.repeat(48), 2: 'c3'.repeat(48) } }));
  assert.notEqual(await agent.exited, 0);
  assert.deepEqual(agent.lines(), [], 'the workload did not run');
  assert.match(agent.stderr(), /Error KH_ATTEST_LOGIN_/);
  assert.ok(!agent.stderr().includes('never-seen-2b7a'));
});

test('the default policy gives a workload only the folder of its role', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'pw-3c3c' } });
  await s.write('billing/db', { data: { user: 'billing', password: 'other-pw-9f9f' } });
  const agent = startAgent(agentConfig(s, { template: '{{ secret "billing/db" "password" }}' }));
  assert.notEqual(await agent.exited, 0);
  assert.match(agent.stderr(), /Error KH_AUTH_PERMISSION_DENIED/);
  assert.deepEqual(agent.lines(), []);
  assert.ok(!agent.stderr().includes('other-pw-9f9f') && !agent.stderr().includes('pw-3c3c'));
});

test('a vault whose attestation does not match the pin is refused before anything is sent', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'pw-4d4d' } });
  const agent = startAgent(agentConfig(s, { expectPcr0: '00'.repeat(48) }));
  assert.notEqual(await agent.exited, 0);
  assert.match(agent.stderr(), /Error KH_AGENT_VAULT_ATTESTATION_REFUSED: .*PCR0 differs/);
  assert.deepEqual(agent.lines(), []);
});

test('an unreachable vault: retries with backoff, then a clear error, and the workload does not start', async (t) => {
  const s = await setup(t);
  const agent = startAgent(agentConfig(s, { address: 'http://127.0.0.1:9', attempts: 2 }));
  assert.notEqual(await agent.exited, 0);
  assert.match(agent.stderr(), /warning: fetching secrets: .*attempt 2 of 2/);
  assert.match(agent.stderr(), /Error KH_CLI_UNREACHABLE/);
  assert.deepEqual(agent.lines(), []);
});

test('a template naming a field the secret lacks stops the agent before the workload starts', async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'pw-5e5e' } });
  const agent = startAgent(agentConfig(s, { template: 'x={{ secret "web/db" "nope" }}' }));
  assert.notEqual(await agent.exited, 0);
  assert.match(agent.stderr(), /Error KH_AGENT_TEMPLATE_MISSING/);
  assert.deepEqual(agent.lines(), []);
});

test('without a command the agent stays as a daemon: files kept current, wiped on SIGTERM', { skip: process.platform !== 'linux' ? 'needs /dev/shm' : false }, async (t) => {
  const s = await setup(t);
  await s.write('web/db', { data: { user: 'app', password: 'daemon-pw-1' } });
  const out = join('/dev/shm', `keyhold-agent-test-${process.pid}-${Date.now()}`);
  const child = spawn(process.execPath, [...CLI_ARGS, 'agent', '--config', agentConfig(s, { outputDir: out })], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));
  const file = join(out, 'db-password');
  const waitFor = async (want: string) => {
    for (let i = 0; i < 240; i++) {
      if (existsSync(file) && readFileSync(file, 'utf8') === want) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`${file} never held ${want}; agent stderr:\n${stderr}`);
  };
  await waitFor('daemon-pw-1');
  await s.write('web/db', { data: { user: 'app', password: 'daemon-pw-2' } });
  await waitFor('daemon-pw-2');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.equal(existsSync(out), false, 'the folder the agent created is gone');
});
