/**
 * Every example of the README (and of docs/compat.md, docs/agent.md,
 * docs/secrets.md) runs exactly as printed against a dev server started as
 * the README says, `npm run dev`.
 *
 * What the reader has, and so what the examples get, nothing more:
 * - the repository after `npm ci` (dist/ built; rebuilt here only if older
 *   than src/), where blocks that spell `node dist/cli/main.js` run;
 * - a terminal in which they pasted the dev server's `export` line and set
 *   KEYHOLD_DEV_DIR to the data dir it printed (the README tells them to),
 *   keeping what each block exports for the next ones, as a terminal does;
 * - `keyhold` on the PATH, as `npm link` or `npm install -g` of the tarball
 *   gives it: here the bin of the package `npm pack` makes, installed into a
 *   fresh project where the other blocks run and the `node FILE.mjs` examples
 *   are saved under the file names the text gives;
 * - the unseal key the banner printed, typed where the text says to paste it.
 * The dev server gets free ports through the documented `--api-port` /
 * `--health-port`: no example names a port, all read KEYHOLD_ADDR, and a
 * fixed 8080 would collide with any other vault on the machine.
 *
 * Each block is its own test, in document order, so a failure names the
 * block (document:line) and the report lists every skip with its reason.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { blockTitle, fencedBlocks, type FencedBlock } from './fenced-examples.js';

import { REPO_ROOT } from '../helpers/repo-root.js';

/** How many blocks of each document run, are skipped (with a reason) or are not code; a change here is a deliberate one. */
const EXPECTED = {
  'README.md': { run: 12, skip: 6, notCode: 3 },
  'docs/compat.md': { run: 4, skip: 1, notCode: 1 },
  'docs/agent.md': { run: 1, skip: 0, notCode: 2 },
  'docs/secrets.md': { run: 0, skip: 0, notCode: 4 },
} as const;
type DocumentName = keyof typeof EXPECTED;

/** What some examples must print (their comments say so); each must match exactly one block. */
const EXPECTED_OUTPUT: readonly { document: DocumentName; block: string; stdout: readonly RegExp[] }[] = [
  { document: 'README.md', block: 'key decrypt payments "$CT"', stdout: [/^keyhold:v1:\S+$/m, /^card 4111$/m] },
  { document: 'README.md', block: 'v1/keys/payments/encrypt', stdout: [/"ciphertext":"keyhold:v1:/] },
  { document: 'README.md', block: 'operator unseal', stdout: [/^sealed\s+false$/m] },
  { document: 'README.md', block: 'attest verify', stdout: [/verified\s+true/, /^keyhold:v1:\S+$/m] },
  { document: 'README.md', block: 'sdk-example.mjs', stdout: [/^keyhold:v1:\S+ card 4111$/m, /^KH_DECRYPT_FAILED$/m] },
  { document: 'README.md', block: 'secret get web/db --field password', stdout: [/a database password/] },
  { document: 'README.md', block: 'agent --config', stdout: [/^s3cret\ns3cret$/m] },
  { document: 'README.md', block: 'auth machine login ci', stdout: [/payments/] },
  { document: 'README.md', block: 'transit.mjs', stdout: [/^vault:v1:\S+$/m, /^hello$/m] },
  { document: 'README.md', block: 'kms.mjs', stdout: [/^secret$/m] },
  { document: 'docs/compat.md', block: 'transit.mjs', stdout: [/^vault:v1:\S+$/m] },
  { document: 'docs/compat.md', block: 'kms.mjs', stdout: [/^4111$/m] },
  { document: 'docs/agent.md', block: 'agent --config', stdout: [/^s3cret\ns3cret$/m] },
];

const documents = (Object.keys(EXPECTED) as DocumentName[]).map((name) => ({
  name,
  blocks: fencedBlocks(name, readFileSync(join(REPO_ROOT, name), 'utf8')),
}));

/** The text a block is matched on: its code, or for a node example also its file name. */
const matchText = (b: FencedBlock): string => (b.example.kind === 'node' ? `${b.example.file}\n${b.code}` : b.code);

test('every fenced block of the README and docs is run, skipped with a reason, or not code', () => {
  for (const { name, blocks } of documents) {
    const count = (kinds: string[]) => blocks.filter((b) => kinds.includes(b.example.kind)).length;
    assert.deepEqual({ run: count(['shell', 'node']), skip: count(['skip']), notCode: count(['not-code']) }, EXPECTED[name], name);
    for (const b of blocks) if (b.example.kind === 'skip') assert.ok(b.example.reason.length >= 10, `${blockTitle(b)}: a skip says why`);
    // Configuration fragments are at least valid YAML (placeholders are strings).
    for (const b of blocks) if (b.lang === 'yaml') assert.doesNotThrow(() => parseYaml(b.code), blockTitle(b));
  }
  for (const e of EXPECTED_OUTPUT) {
    const hits = documents.find((d) => d.name === e.document)!.blocks.filter((b) => (b.example.kind === 'shell' || b.example.kind === 'node') && matchText(b).includes(e.block));
    assert.equal(hits.length, 1, `${e.document}: exactly one example contains "${e.block}"`);
  }
});

// ---------------------------------------------------------------------------------------------
// The reader's machine: a fresh project with the packed package, a home, a terminal environment.

const work = mkdtempSync(join(tmpdir(), 'keyhold-readme-'));
const project = join(work, 'project');
const home = join(work, 'home');
mkdirSync(project);
mkdirSync(home);
let devServer: ChildProcess | undefined;
let devDataDir: string | undefined;

// The dev server runs in its own process group (npm and its node); if this file ends without its
// after hook (an uncaught error), the group must not outlive it.
process.once('exit', () => {
  if (devServer?.pid !== undefined && devServer.exitCode === null) {
    try {
      process.kill(-devServer.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

after(async () => {
  if (devServer?.pid !== undefined && devServer.exitCode === null) {
    const exited = new Promise((r) => devServer!.once('exit', r));
    process.kill(-devServer.pid, 'SIGTERM'); // npm and the node it started: the whole group
    const timer = setTimeout(() => process.kill(-devServer!.pid!, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  if (devDataDir !== undefined) rmSync(devDataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

/** A stranger's environment: nothing of Keyhold's, AWS's, npm's or the test runner's. */
function strangerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(KEYHOLD_|AWS_|npm_|NODE_TEST_|NODE_OPTIONS$|NODE_ENV$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, PATH: `${join(project, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}` };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

// `npm ci` builds dist/ (the prepare script), so in `npm ci && npm test` this only checks; a
// rebuild after editing src/ is one tsc run, which can take more than a minute on 2 cores.
test('dist/ is built from the current sources (npm run build when older)', { timeout: 240_000 }, (t) => {
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  const sources = Math.max(newestMtime(join(REPO_ROOT, 'src')), statSync(join(REPO_ROOT, 'package.json')).mtimeMs);
  if (existsSync(main) && statSync(main).mtimeMs >= sources) return;
  t.diagnostic('dist/ is older than src/: npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', env: strangerEnv() });
  assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}\n${r.stderr}`);
});

let tarball: string | undefined;

test('npm pack holds dist/ (CLI and SDK), docs, README and LICENSE, and no tests or secrets', () => {
  // --ignore-scripts: dist/ is built above; `prepare` would only build it again.
  const r = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, encoding: 'utf8', env: strangerEnv() });
  assert.equal(r.status, 0, r.stderr);
  const [packed] = JSON.parse(r.stdout) as [{ filename: string; files: { path: string }[] }];
  const files = packed.files.map((f) => f.path);
  for (const wanted of ['package.json', 'README.md', 'LICENSE', 'SECURITY.md', 'dist/cli/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/index.js', 'docs/architecture.md', 'docs/protocols.md', 'docs/compat.md'])
    assert.ok(files.includes(wanted), `the package holds ${wanted}`);
  const unwanted = files.filter(
    (f) => /(^|\/)(test|tests|node_modules|\.git|bench|scripts)\//.test(f) || /\.test\.|\.(pem|key|p12|pfx|db|db-wal|tgz|log)$|credentials|(^|\/)\.env|\.npmrc$/.test(f) || !/^(dist\/|docs\/|README\.md$|LICENSE$|SECURITY\.md$|package\.json$)/.test(f),
  );
  assert.deepEqual(unwanted, [], 'the package holds only dist/, docs/, README.md, LICENSE, SECURITY.md and package.json');
  tarball = join(work, packed.filename);
});

test('the packed package installs into a fresh project (keyhold on the PATH, keyhold/client importable)', () => {
  assert.ok(tarball !== undefined, 'npm pack ran');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'keyhold-examples', private: true }, null, 2));
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  // The package itself is unpacked as `npm install <tarball>` unpacks it. Its dependencies (and the
  // examples' node-vault and @aws-sdk/client-kms) are linked from the repository's node_modules
  // instead of resolved from the registry: the same versions, and `npm install` of the tarball
  // took over 8 minutes on these machines (and needs the network).
  const unpacked = spawnSync('tar', ['-xzf', tarball, '-C', modules], { encoding: 'utf8' });
  assert.equal(unpacked.status, 0, unpacked.stderr);
  renameSync(join(modules, 'package'), join(modules, 'keyhold'));
  for (const name of readdirSync(join(REPO_ROOT, 'node_modules')))
    if (!name.startsWith('.') && name !== 'keyhold') symlinkSync(join(REPO_ROOT, 'node_modules', name), join(modules, name));
  // What npm does for a package's bin: link it and make it executable.
  const bin = join(modules, 'keyhold', 'dist', 'cli', 'main.js');
  chmodSync(bin, 0o755);
  symlinkSync('../keyhold/dist/cli/main.js', join(modules, '.bin', 'keyhold'));
  const version = spawnSync('keyhold', ['--version'], { cwd: project, encoding: 'utf8', env: strangerEnv() });
  assert.equal(version.status, 0, version.stderr);
  const client = spawnSync(process.execPath, ['--input-type=module', '-e', "import('keyhold/client').then((m) => console.log(typeof m.KeyholdClient))"], { cwd: project, encoding: 'utf8', env: strangerEnv() });
  assert.equal(client.stdout.trim(), 'function', client.stderr);
});

/** What the banner told the reader: the export line, the data dir, the unseal key. */
let terminal: Record<string, string> | undefined;
let unsealKey: string | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

test('npm run dev starts a dev server and prints the export line, data dir and unseal key', async () => {
  const [api, health] = [await freePort(), await freePort()];
  devServer = spawn('npm', ['run', 'dev', '--', '--api-port', String(api), '--health-port', String(health)], { cwd: REPO_ROOT, env: strangerEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  devServer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  devServer.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exportLine = /^\s*export (KEYHOLD_ADDR=\S+ KEYHOLD_TOKEN=\S+)\s*$/m;
  const banner = /Data dir:\s+\S+/;
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 45 s:\n${out}`)), 45_000);
    const check = (): void => {
      if (exportLine.test(out) && banner.test(out) && /Unseal key:\s+\S+/.test(out)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    devServer!.stdout!.on('data', check);
    devServer!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run dev exited with ${code}:\n${out}`));
    });
  });
  const env: Record<string, string> = { ...strangerEnv() };
  for (const pair of exportLine.exec(out)![1]!.split(' ')) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  devDataDir = /Data dir:\s+(\S+)/.exec(out)![1]!;
  env['KEYHOLD_DEV_DIR'] = devDataDir;
  unsealKey = /Unseal key:\s+(\S+)/.exec(out)![1]!;
  assert.equal(env['KEYHOLD_ADDR'], `http://127.0.0.1:${api}`);
  terminal = env;
});

// ---------------------------------------------------------------------------------------------
// The examples, in document order.

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  fd3: string;
}

function run(command: string, args: string[], options: { cwd: string; env: Record<string, string>; stdin: string }): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const chunks = { stdout: '', stderr: '', fd3: '' };
    child.stdout!.on('data', (d: Buffer) => (chunks.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (chunks.stderr += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (chunks.fd3 += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, ...chunks }));
    child.stdin!.end(options.stdin);
  });
}

/** Variables the shell keeps to itself; everything else a block exported stays for the next block. */
const SHELL_OWN = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

for (const { name, blocks } of documents) {
  // Each document starts from a terminal set up as the README's "First ten minutes" says.
  let env: Record<string, string> | undefined;
  for (const block of blocks) {
    const { example } = block;
    if (example.kind === 'not-code') continue;
    if (example.kind === 'skip') {
      test(blockTitle(block), { skip: example.reason }, () => {});
      continue;
    }
    test(blockTitle(block), async () => {
      assert.ok(terminal !== undefined && unsealKey !== undefined, 'the dev server is running');
      env ??= { ...terminal };
      // Blocks that spell `node dist/cli/main.js` run where that path exists: the repository.
      const cwd = /\bnode dist\//.test(block.code) ? REPO_ROOT : project;
      // Where the text says to paste the unseal key, the reader types the one the banner printed.
      const stdin = block.code.includes('operator unseal') ? `${unsealKey}\n` : '';
      let ran: Ran;
      if (example.kind === 'shell') {
        ran = await run('bash', ['-c', `set -euo pipefail\n${block.code}\nenv -0 >&3`], { cwd, env, stdin });
        if (ran.code === 0) {
          const next: Record<string, string> = {};
          for (const entry of ran.fd3.split('\0')) {
            const eq = entry.indexOf('=');
            if (eq > 0 && !SHELL_OWN.has(entry.slice(0, eq))) next[entry.slice(0, eq)] = entry.slice(eq + 1);
          }
          env = next;
        }
      } else {
        writeFileSync(join(project, example.file), block.code);
        ran = await run(process.execPath, [example.file], { cwd: project, env, stdin });
      }
      assert.equal(ran.code, 0, `${blockTitle(block)} exited ${ran.code}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`);
      for (const e of EXPECTED_OUTPUT.filter((x) => x.document === name && matchText(block).includes(x.block)))
        for (const pattern of e.stdout) assert.match(ran.stdout, pattern, `${blockTitle(block)} prints what its comments say\n--- stderr\n${ran.stderr}`);
    });
  }
}
