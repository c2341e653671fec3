/**
 * `keyhold measure`, `keyhold attest verify` and the global `--e2e` flag, run
 * as a user runs them (child processes through tsx):
 *
 * - measure: the PCRs of this build (the same the in-process simulated
 *   enclave reports), of another package root (PCR2 recomputed with the
 *   documented `sha384sum` recipe), and a usage error for a missing root;
 * - attest verify against a running simulated vault: pinned, mis-pinned,
 *   untrusted root, unpinned (warning);
 * - attest verify FILE with the real AWS document (published vectors, not
 *   carried here: test/helpers/vectors.ts; skipped with one line when
 *   absent): base64, raw CBOR and stdin agree; expiry, nonce and garbage;
 * - --e2e: a key created and used through the verified channel, decrypted by
 *   a direct call; a wrong pin refuses before anything is sent (the audit log
 *   and the key list show nothing happened); --e2e without a pin is a usage
 *   error.
 *
 * Each CLI process costs most of a second (tsx), so independent commands run
 * in parallel waves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureBuild } from '../../src/attestation/simulated/measure.js';
import { runningVault } from '../helpers/keyhold.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { NITRO_SAMPLE, assertPresent } from '../helpers/vectors.js';

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString('hex');
const sha384 = (data: Uint8Array | string) => createHash('sha384').update(data).digest();
const HEX96 = /^[0-9a-f]{96}$/;

/** The real AWS document (2024-09-07, module i-0a22e5c5f24d22174-enc0191cceb4289903f): an absolute path, so the CLI finds it from any directory. */
const SAMPLE = NITRO_SAMPLE.path;
/** Within the validity of every certificate of the sample's chain (the document is from 14:37:39.545Z). */
const SAMPLE_AT = '2024-09-07T15:17:39Z';
/** The sample's nonce (and public_key and user_data): 1024 bytes of 0x01. */
const SAMPLE_NONCE = '01'.repeat(1024);
const SAMPLE_PCR0 = 'e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a';

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);

/** A failure the way the binary reports it: exit code and "Error <code>: ..." on stderr, nothing on stdout. */
function fails(r: CliResult, exit: number, code: string, what: string) {
  assert.equal(r.code, exit, `${what}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 300)}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^Error ${code}: `, 'm'), `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a stack trace was printed`);
  assert.equal(r.stdout, '', `${what}: printed ${r.stdout.slice(0, 300)}`);
}

/** PCR0 with its last digit changed. */
function wrongPcr(pcr: string): string {
  return pcr.slice(0, -1) + (pcr.endsWith('0') ? '1' : '0');
}

async function simulatedVault(t: Parameters<typeof runningVault>[0], overrides: Record<string, unknown> = {}) {
  const v = await runningVault(t, { enclave: { provider: 'simulated' }, ...overrides });
  const root = join(v.dir, 'enclave-sim', 'root-cert.pem');
  const pcrs = measureBuild().pcrs;
  const env = { KEYHOLD_ADDR: v.server.apiUrl, KEYHOLD_TOKEN: v.rootToken };
  const kh = (args: string[], input?: string) => runCli(args, env, input);
  const get = async (path: string) => {
    const res = await fetch(`${v.server.apiUrl}${path}`, { headers: { authorization: `Bearer ${v.rootToken}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { ...v, root, pcr0: hex(pcrs.get(0)), pcr2: hex(pcrs.get(2)), kh, get };
}

test('measure prints the PCRs of this build, of another package root, and refuses a missing root', async (t) => {
  // A fake package: what --root measures is package.json and dist/.
  const fake = tempDir(t);
  writeFileSync(join(fake, 'package.json'), JSON.stringify({ name: 'keyhold' }));
  mkdirSync(join(fake, 'dist', 'cli'), { recursive: true });
  writeFileSync(join(fake, 'dist', 'cli', 'main.js'), 'console.log("keyhold");\n');
  writeFileSync(join(fake, 'dist', 'index.js'), 'export {};\n');

  const [own, human, other, missing] = await Promise.all([
    runCli(['measure', '--format', 'json']),
    runCli(['measure']),
    runCli(['--format', 'json', 'measure', '--root', fake]),
    runCli(['measure', '--root', '/nonexistent']),
  ]);

  ok(own, 'measure');
  const mine = JSON.parse(own.stdout) as Record<string, unknown>;
  for (const i of [0, 1, 2]) assert.match(String(mine[`pcr${i}`]), HEX96, `pcr${i}`);
  // The values the in-process simulated enclave reports (both run from src/ through tsx).
  const expected = measureBuild();
  assert.deepEqual([mine.pcr0, mine.pcr1, mine.pcr2], [hex(expected.pcrs.get(0)), hex(expected.pcrs.get(1)), hex(expected.pcrs.get(2))]);
  assert.equal(mine.code, 'src');
  assert.equal(mine.files, expected.files);

  ok(human, 'measure (human)');
  assert.match(human.stdout, new RegExp(`^pcr0\\s+${String(mine.pcr0)}$`, 'm'));

  ok(other, 'measure --root');
  const theirs = JSON.parse(other.stdout) as Record<string, unknown>;
  for (const i of [0, 1, 2]) assert.match(String(theirs[`pcr${i}`]), HEX96, `--root pcr${i}`);
  assert.equal(theirs.code, 'dist');
  assert.equal(theirs.files, 3);
  assert.notEqual(theirs.pcr0, mine.pcr0);
  assert.notEqual(theirs.pcr2, mine.pcr2);
  assert.equal(theirs.pcr1, mine.pcr1, 'same runtime, same PCR1');

  // Recomputed independently: PCR1 from the runtime line, PCR2 with the recipe in measure.ts, PCR0 = SHA-384(PCR1 || PCR2).
  const pcr1 = sha384(`node ${process.version} ${process.platform} ${process.arch}\n`);
  assert.equal(theirs.pcr1, pcr1.toString('hex'));
  const recipe = () =>
    execFileSync('bash', ['-c', 'find dist package.json -type f | LC_ALL=C sort | xargs sha384sum | sha384sum'], { cwd: fake, encoding: 'utf8' }).split(' ')[0]!;
  assert.equal(theirs.pcr2, recipe());
  assert.equal(theirs.pcr0, sha384(Buffer.concat([pcr1, Buffer.from(String(theirs.pcr2), 'hex')])).toString('hex'));

  // One byte of one file changes PCR2 and so PCR0; the runtime (PCR1) is the same.
  writeFileSync(join(fake, 'dist', 'cli', 'main.js'), 'console.log("keyhold!");\n');
  const changed = await runCli(['--format', 'json', 'measure', '--root', fake]);
  ok(changed, 'measure --root after the change');
  const after = JSON.parse(changed.stdout) as Record<string, unknown>;
  assert.notEqual(after.pcr2, theirs.pcr2);
  assert.notEqual(after.pcr0, theirs.pcr0);
  assert.equal(after.pcr1, theirs.pcr1);
  assert.equal(after.pcr2, recipe());

  fails(missing, 2, 'KH_CLI_USAGE', 'measure --root /nonexistent');
});

test('attest verify fetches a fresh document from the node and checks root, pins and nonce', async (t) => {
  const { root, pcr0, pcr2, kh, get } = await simulatedVault(t);
  const enclave = await get('/v1/enclave');
  assert.equal(enclave.status, 200);
  const nonce = 'a5'.repeat(32);

  const [pinned, pinnedHuman, twoPins, ownNonce, wrong, noRoot, unpinned] = await Promise.all([
    kh(['--format', 'json', '--attestation-root', root, '--expect-pcr', `0=${pcr0}`, 'attest', 'verify']),
    kh(['--attestation-root', root, '--expect-pcr', `0=${pcr0}`, 'attest', 'verify']),
    kh(['-f', 'json', '--attestation-root', root, '--expect-pcr', `0=${pcr0}`, '--expect-pcr', `2=${pcr2.toUpperCase()}`, 'attest', 'verify']),
    kh(['-f', 'json', '--attestation-root', root, '--expect-pcr', `0=${pcr0}`, 'attest', 'verify', '--nonce', nonce, '--max-age', '60']),
    kh(['--attestation-root', root, '--expect-pcr', `0=${wrongPcr(pcr0)}`, 'attest', 'verify']),
    kh(['--expect-pcr', `0=${pcr0}`, 'attest', 'verify']),
    kh(['--attestation-root', root, 'attest', 'verify']),
  ]);

  ok(pinned, 'attest verify');
  const doc = JSON.parse(pinned.stdout) as Record<string, unknown>;
  assert.equal(doc.verified, true);
  assert.equal(doc.pcrsPinned, 1);
  assert.equal(doc.warning, undefined);
  assert.equal(doc.pcr0, pcr0);
  assert.equal(doc.pcr2, pcr2);
  assert.equal(doc.publicKey, enclave.body.publicKey, 'the document binds the channel key the node announces');
  assert.match(String(doc.nonce), /^[0-9a-f]{64}$/, 'a fresh 32-byte nonce');
  assert.ok(!Number.isNaN(Date.parse(String(doc.timestamp))));

  ok(pinnedHuman, 'attest verify (human)');
  assert.match(pinnedHuman.stdout, /^verified\s+true$/m);
  assert.match(pinnedHuman.stdout, /^pcrsPinned\s+1$/m);
  assert.match(pinnedHuman.stdout, new RegExp(`^publicKey\\s+${String(enclave.body.publicKey)}$`, 'm'));
  assert.match(pinnedHuman.stdout, /^nonce\s+[0-9a-f]{64}$/m);
  assert.doesNotMatch(pinnedHuman.stdout, /warning/);
  // Each run asks with its own random nonce.
  assert.notEqual(pinnedHuman.stdout.match(/^nonce\s+(\S+)$/m)?.[1], doc.nonce);

  ok(twoPins, 'two pins');
  assert.equal((JSON.parse(twoPins.stdout) as Record<string, unknown>).pcrsPinned, 2);

  ok(ownNonce, '--nonce');
  assert.equal((JSON.parse(ownNonce.stdout) as Record<string, unknown>).nonce, nonce);

  fails(wrong, 1, 'KH_ATTESTATION_PCR_MISMATCH', 'wrong PCR0');
  // The simulated root is not trusted unless given: only the AWS Nitro root is.
  fails(noRoot, 1, 'KH_ATTESTATION_CHAIN_INVALID', 'without --attestation-root');

  ok(unpinned, 'attest verify without --expect-pcr');
  assert.match(unpinned.stdout, /^verified\s+true$/m);
  assert.match(unpinned.stdout, /^pcrsPinned\s+0$/m);
  assert.match(unpinned.stdout, /^warning\s+no --expect-pcr given: the document is genuine, but any code could have produced it$/m);
});

test('attest verify FILE checks the real AWS Nitro document as base64, raw CBOR or stdin', { skip: NITRO_SAMPLE.skip }, async (t) => {
  const dir = tempDir(t);
  const b64 = readFileSync(assertPresent(NITRO_SAMPLE), 'utf8');
  const cbor = join(dir, 'sample.cbor');
  writeFileSync(cbor, Buffer.from(b64.trim(), 'base64'));
  const garbageText = join(dir, 'garbage.txt');
  writeFileSync(garbageText, 'this is not an attestation document\n');
  const garbageCbor = join(dir, 'garbage.cbor');
  // Starts like an untagged COSE_Sign1 (array of 4), then nonsense.
  writeFileSync(garbageCbor, Buffer.from([0x84, 0xff, 0x00, 0x13, 0x37, 0x42]));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');

  const at = ['--at', SAMPLE_AT];
  const [fromB64, fromCbor, fromStdin, human, expired, pinned, misPinned, rightNonce, wrongNonce, young, stale, garbage1, garbage2, nothing, missing, badAt] = await Promise.all([
    runCli(['-f', 'json', 'attest', 'verify', SAMPLE, ...at]),
    runCli(['-f', 'json', 'attest', 'verify', cbor, ...at]),
    runCli(['-f', 'json', 'attest', 'verify', '-', ...at], {}, b64),
    runCli(['attest', 'verify', SAMPLE, ...at]),
    runCli(['attest', 'verify', SAMPLE]),
    runCli(['-f', 'json', '--expect-pcr', `0=${SAMPLE_PCR0}`, 'attest', 'verify', SAMPLE, ...at]),
    runCli(['--expect-pcr', `0=${wrongPcr(SAMPLE_PCR0)}`, 'attest', 'verify', SAMPLE, ...at]),
    runCli(['-f', 'json', 'attest', 'verify', cbor, ...at, '--nonce', SAMPLE_NONCE]),
    runCli(['attest', 'verify', SAMPLE, ...at, '--nonce', `${'01'.repeat(1023)}02`]),
    // --at is 40 minutes after the document's timestamp.
    runCli(['attest', 'verify', SAMPLE, ...at, '--max-age', '3600']),
    runCli(['attest', 'verify', SAMPLE, ...at, '--max-age', '60']),
    runCli(['attest', 'verify', garbageText, ...at]),
    runCli(['attest', 'verify', garbageCbor, ...at]),
    runCli(['attest', 'verify', empty, ...at]),
    runCli(['attest', 'verify', join(dir, 'no-such-file')]),
    runCli(['attest', 'verify', SAMPLE, '--at', 'yesterday']),
  ]);

  ok(fromB64, 'base64 file');
  const doc = JSON.parse(fromB64.stdout) as Record<string, unknown>;
  assert.equal(doc.verified, true);
  assert.equal(doc.pcrsPinned, 0);
  assert.match(String(doc.moduleId), /^i-/);
  assert.equal(doc.moduleId, 'i-0a22e5c5f24d22174-enc0191cceb4289903f');
  assert.equal(doc.timestamp, '2024-09-07T14:37:39.545Z');
  assert.equal(doc.pcr0, SAMPLE_PCR0);
  assert.equal(doc.nonce, SAMPLE_NONCE);
  assert.match(String(doc.warning), /no --expect-pcr given/);

  ok(fromCbor, 'raw CBOR file');
  assert.deepEqual(JSON.parse(fromCbor.stdout), doc);
  ok(fromStdin, 'stdin');
  assert.deepEqual(JSON.parse(fromStdin.stdout), doc);

  ok(human, 'human');
  assert.match(human.stdout, /^verified\s+true$/m);
  assert.match(human.stdout, /^moduleId\s+i-0a22e5c5f24d22174-enc0191cceb4289903f$/m);

  // Today the leaf (a few hours) and intermediates have long expired.
  fails(expired, 1, 'KH_ATTESTATION_CERT_EXPIRED', 'without --at');

  ok(pinned, 'pinned to the sample PCR0');
  assert.equal((JSON.parse(pinned.stdout) as Record<string, unknown>).pcrsPinned, 1);
  fails(misPinned, 1, 'KH_ATTESTATION_PCR_MISMATCH', 'wrong PCR0 for the sample');

  ok(rightNonce, 'the right nonce');
  assert.equal((JSON.parse(rightNonce.stdout) as Record<string, unknown>).nonce, SAMPLE_NONCE);
  fails(wrongNonce, 1, 'KH_ATTESTATION_NONCE_MISMATCH', 'wrong nonce');

  ok(young, '--max-age 3600');
  assert.match(young.stdout, /^verified\s+true$/m);
  fails(stale, 1, 'KH_ATTESTATION_STALE', '--max-age 60');

  fails(garbage1, 1, 'KH_ATTESTATION_MALFORMED', 'text garbage');
  fails(garbage2, 1, 'KH_ATTESTATION_MALFORMED', 'CBOR-looking garbage');
  fails(nothing, 1, 'KH_ATTESTATION_MALFORMED', 'empty file');
  fails(missing, 2, 'KH_CLI_USAGE', 'missing file');
  fails(badAt, 2, 'KH_CLI_USAGE', '--at yesterday');
});

test('--e2e sends requests through the channel after verifying the pin, and sends nothing on a wrong pin', async (t) => {
  const auditFile = join(tempDir(t), 'audit.log');
  const { root, pcr0, pcr2, kh, get } = await simulatedVault(t, { audit: { file: auditFile } });
  /** The audit log's entries (JSON lines): a "request" entry carries operation, route and, for inner requests of the channel, channel: "e2e". */
  const audit = () =>
    readFileSync(auditFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type?: unknown; operation?: unknown; route?: unknown; channel?: unknown });
  const e2e = (pin: string[]) => ['--e2e', '--attestation-root', root, ...pin];

  // Refusals first, so that the audit log holds no key operation yet.
  const [wrongPin, noPin, noRoot] = await Promise.all([
    kh([...e2e(['--expect-pcr', `0=${wrongPcr(pcr0)}`]), 'key', 'create', 'refused']),
    kh(['--e2e', '--attestation-root', root, 'key', 'create', 'unpinned']),
    kh(['--e2e', '--expect-pcr', `0=${pcr0}`, 'key', 'create', 'untrusted']),
  ]);
  fails(wrongPin, 1, 'KH_CLIENT_ATTESTATION_REFUSED', '--e2e with a wrong pin');
  assert.match(wrongPin.stderr, /PCRs do not match/);
  fails(noPin, 2, 'KH_CLI_USAGE', '--e2e without --expect-pcr');
  assert.match(noPin.stderr, /--expect-pcr/);
  fails(noRoot, 1, 'KH_CLIENT_ATTESTATION_REFUSED', '--e2e without the simulated root');
  assert.match(noRoot.stderr, /trusted root/);

  for (const name of ['refused', 'unpinned', 'untrusted']) assert.equal((await get(`/v1/keys/${name}`)).status, 404, `${name} was created`);
  const listed = await get('/v1/keys');
  assert.equal(listed.status, 200);
  assert.doesNotMatch(JSON.stringify(listed.body), /refused|unpinned|untrusted/);
  const before = audit();
  assert.ok(before.length > 0, 'the audit log records requests');
  const requests = (entries: ReturnType<typeof audit>) => entries.filter((e) => e.type === 'request');
  assert.deepEqual(
    requests(before).map((e) => e.operation),
    // The two refused clients fetched the attestation (that is how they refused it); then this test's own reads.
    ['getAttestation', 'getAttestation', 'readKey', 'readKey', 'readKey', 'listKeys'],
    'no key creation and nothing through the channel reached the server',
  );

  // The right pin: create and encrypt through the channel, decrypt directly.
  const pin = ['--expect-pcr', `0=${pcr0}`, '--expect-pcr', `2=${pcr2}`];
  const created = await kh([...e2e(pin), 'key', 'create', 'payments']);
  ok(created, '--e2e key create');
  assert.match(created.stdout, /^name\s+payments$/m);
  const [encrypted, missingKey] = await Promise.all([
    kh([...e2e(pin), 'key', 'encrypt', 'payments', 'card 4111 via the channel']),
    kh([...e2e(pin), 'key', 'encrypt', 'no-such-key', 'x']),
  ]);
  ok(encrypted, '--e2e key encrypt');
  const ciphertext = encrypted.stdout.trim();
  assert.match(ciphertext, /^keyhold:v1:[A-Za-z0-9+/]+=*$/);
  // The server's error codes come back through the channel.
  fails(missingKey, 1, 'KH_KEY_NOT_FOUND', '--e2e encrypt with an unknown key');

  const decrypted = await kh(['key', 'decrypt', 'payments', ciphertext]);
  ok(decrypted, 'direct key decrypt');
  assert.equal(decrypted.stdout, 'card 4111 via the channel');

  // The audit log tells channel requests from direct ones: key operations of --e2e runs are inner requests of channelPost.
  const ops = (op: string) => requests(audit().slice(before.length)).filter((e) => e.operation === op);
  assert.equal(ops('channelPost').length, 3, 'create, encrypt, encrypt of an unknown key');
  assert.deepEqual(ops('createKey').map((e) => e.channel), ['e2e']);
  assert.deepEqual(ops('encrypt').map((e) => e.channel), ['e2e', 'e2e']);
  assert.deepEqual(ops('decrypt').map((e) => e.channel), [undefined]);
});

// Bugs found while writing the tests above: each test states the expected behaviour and fails today.

test('BUG: a --nonce that is not whole hex bytes is a usage error, not silently truncated', { skip: NITRO_SAMPLE.skip }, async () => {
  assertPresent(NITRO_SAMPLE);
  // Buffer.from(hex, 'hex') stops at the first odd or non-hex digit: today this verifies against the
  // first 1024 bytes and prints "verified true" for a nonce the user did not give.
  const [odd, nonHex] = await Promise.all([
    runCli(['attest', 'verify', SAMPLE, '--at', SAMPLE_AT, '--nonce', `${SAMPLE_NONCE}0`]),
    runCli(['attest', 'verify', SAMPLE, '--at', SAMPLE_AT, '--nonce', `${SAMPLE_NONCE}zz`]),
  ]);
  for (const [r, what] of [
    [odd, 'odd-length --nonce'],
    [nonHex, 'non-hex --nonce'],
  ] as const) {
    assert.equal(r.code, 2, `${what}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 300)}\nstderr: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /verified/, what);
  }
});

test('BUG: --e2e with an --attestation-root that is not PEM is a usage error (as for attest verify), not KH_INTERNAL', async (t) => {
  const { pcr0, kh } = await simulatedVault(t);
  const junk = join(tempDir(t), 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  const [e2e, verify] = await Promise.all([
    kh(['--e2e', '--attestation-root', junk, '--expect-pcr', `0=${pcr0}`, 'key', 'list']),
    kh(['--attestation-root', junk, '--expect-pcr', `0=${pcr0}`, 'attest', 'verify']),
  ]);
  fails(verify, 2, 'KH_CLI_USAGE', 'attest verify with a non-PEM root');
  // Today: exit 1, "Error KH_INTERNAL: error:0480006C:PEM routines::no start line".
  fails(e2e, 2, 'KH_CLI_USAGE', '--e2e with a non-PEM root');
});

test('BUG: attest verify works with the global --e2e flag set (the document needs no channel)', async (t) => {
  const { root, pcr0, kh } = await simulatedVault(t);
  // Today: attest verify sends GET /v1/enclave/attestation through the channel, and the server refuses
  // channel routes as inner requests: exit 1, "Error KH_E2E_INNER_INVALID".
  const r = await kh(['--e2e', '--attestation-root', root, '--expect-pcr', `0=${pcr0}`, 'attest', 'verify']);
  ok(r, '--e2e attest verify');
  assert.match(r.stdout, /^verified\s+true$/m);
});
