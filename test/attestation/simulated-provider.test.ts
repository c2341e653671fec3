/**
 * The simulated attestation provider (docs/protocols.md §2): its documents verify
 * with the Nitro verifier only when the simulated root is configured as a
 * trust anchor, they bind public_key / user_data / nonce, the root is created
 * once per folder and reused, and the PCRs are measurements of the build
 * (PCR2 is the `sha384sum` manifest of the code). Then the server routes:
 * GET /v1/enclave and GET /v1/enclave/attestation, with and without TLS, with
 * and without a provider.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { verifyNitroDocument, type NitroAttestation } from '../../src/attestation/nitro/verify.js';
import { AWS_NITRO_ROOT_G1 } from '../../src/attestation/nitro/aws-root.js';
import { AttestationError } from '../../src/attestation/errors.js';
import { createSimulatedProvider, SIMULATED_MODULE_PREFIX } from '../../src/attestation/simulated/simulated-provider.js';
import { ROOT_CERT_FILE, ROOT_KEY_FILE } from '../../src/attestation/simulated/simulated-root.js';
import { codeManifest, installedPackageRoot, measureBuild, runtimeDescription } from '../../src/attestation/simulated/measure.js';
import { runningVault } from '../helpers/keyhold.js';
import { makePki } from '../helpers/pki.js';
import { tempDir } from '../helpers/temp-dir.js';
import { rejects } from './nitro-rejects.js';

const toHex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
const sha384 = (data: Uint8Array | string): string => createHash('sha384').update(data).digest('hex');
const fromB64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** PCR index -> hex, for verifyNitroDocument's expectedPcrs. */
function pcrRecord(pcrs: ReadonlyMap<number, Uint8Array>): Record<number, string> {
  return Object.fromEntries([...pcrs].map(([i, v]) => [i, toHex(v)!]));
}

// ---------------------------------------------------------------------------
// Provider and verifier
// ---------------------------------------------------------------------------

test('documents verify with the simulated root as trust anchor, and only with it', async (t) => {
  const rootDir = join(tempDir(t), 'sim');
  const provider = await createSimulatedProvider({ rootDir });
  t.after(() => provider.close());
  const root = new X509Certificate(provider.rootCertificatePem);
  assert.equal(provider.kind, 'simulated');
  assert.ok(provider.moduleId.startsWith(SIMULATED_MODULE_PREFIX));

  const publicKey = randomBytes(32);
  const userData = randomBytes(32);
  const nonce = randomBytes(20);
  const doc = await provider.attest({ publicKey, userData, nonce });
  const pcrs = await provider.pcrs();

  const before = Date.now();
  const verified: NitroAttestation = verifyNitroDocument(doc, { trustedRoots: [root], nonce, expectedPcrs: pcrRecord(pcrs), now: new Date(), maxAgeMs: 60_000 });
  assert.ok(verified.moduleId.startsWith('keyhold-sim-'), verified.moduleId);
  assert.equal(verified.moduleId, provider.moduleId);
  assert.equal(verified.digest, 'SHA384');
  assert.ok(Math.abs(verified.timestamp - before) < 10_000);
  assert.equal(toHex(verified.publicKey), toHex(publicKey));
  assert.equal(toHex(verified.userData), toHex(userData));
  assert.equal(toHex(verified.nonce), toHex(nonce));
  assert.equal(verified.pcrs.size, 16);
  assert.match(verified.certificate.subject, /keyhold-sim-/);
  assert.ok(verified.certificate.checkIssued(root), 'the leaf is issued by the simulated root');

  // The AWS root is the only built-in anchor: without the simulated root configured, the chain fails.
  rejects(doc, {}, 'KH_ATTESTATION_CHAIN_INVALID', 'default roots');
  rejects(doc, { trustedRoots: [AWS_NITRO_ROOT_G1] }, 'KH_ATTESTATION_CHAIN_INVALID', 'AWS root alone');
  const stranger = await createSimulatedProvider({ rootDir: join(tempDir(t), 'other') });
  rejects(doc, { trustedRoots: [new X509Certificate(stranger.rootCertificatePem)] }, 'KH_ATTESTATION_CHAIN_INVALID', "another simulated root");
  assert.doesNotThrow(() => verifyNitroDocument(doc, { trustedRoots: [AWS_NITRO_ROOT_G1, root] }), 'the AWS root and the simulated root together');

  // Bindings: another nonce, other PCRs.
  rejects(doc, { trustedRoots: [root], nonce: randomBytes(20) }, 'KH_ATTESTATION_NONCE_MISMATCH', 'other nonce');
  rejects(doc, { trustedRoots: [root], expectedPcrs: { 2: '00'.repeat(48) } }, 'KH_ATTESTATION_PCR_MISMATCH', 'other PCR2');
});

test('optional fields are absent when not requested, and each is bound as given', async (t) => {
  const provider = await createSimulatedProvider({ rootDir: join(tempDir(t), 'sim') });
  const trustedRoots = [new X509Certificate(provider.rootCertificatePem)];
  const bare = verifyNitroDocument(await provider.attest({}), { trustedRoots });
  assert.equal(bare.publicKey, undefined);
  assert.equal(bare.userData, undefined);
  assert.equal(bare.nonce, undefined);
  rejects(await provider.attest({}), { trustedRoots, nonce: randomBytes(8) }, 'KH_ATTESTATION_NONCE_MISMATCH', 'a nonce was expected but none is in the document');

  for (const field of ['publicKey', 'userData', 'nonce'] as const) {
    const value = randomBytes(1024);
    const got = verifyNitroDocument(await provider.attest({ [field]: value }), { trustedRoots });
    assert.equal(toHex(got[field]), toHex(value), field);
    await assert.rejects(provider.attest({ [field]: randomBytes(1025) }), TypeError, `${field} over 1024 bytes`);
  }
  // Two documents differ (timestamp, signature) but carry the same module and PCRs.
  const a = verifyNitroDocument(await provider.attest({}), { trustedRoots });
  assert.equal(a.moduleId, bare.moduleId);
  assert.deepEqual(pcrRecord(a.pcrs), pcrRecord(bare.pcrs));
  await assert.rejects(createSimulatedProvider({ rootDir: join(tempDir(t), 'x'), moduleId: 'enclave-1' }), TypeError);
});

test('the root is created once in rootDir (key file 0600) and reused by the next provider', async (t) => {
  const rootDir = join(tempDir(t), 'nested', 'enclave-sim');
  assert.equal(existsSync(rootDir), false);
  const first = await createSimulatedProvider({ rootDir });
  const keyPath = join(rootDir, ROOT_KEY_FILE);
  const certPath = join(rootDir, ROOT_CERT_FILE);
  assert.equal(statSync(keyPath).mode & 0o777, 0o600, 'root key mode');
  assert.equal(statSync(rootDir).mode & 0o077, 0, 'root folder not readable by others');
  assert.equal(readFileSync(certPath, 'utf8'), first.rootCertificatePem);
  const root = new X509Certificate(first.rootCertificatePem);
  assert.ok(root.ca);
  assert.match(root.subject, /keyhold-sim-root/);
  const keyBytes = readFileSync(keyPath);

  const second = await createSimulatedProvider({ rootDir });
  assert.equal(second.rootCertificatePem, first.rootCertificatePem, 'same root');
  assert.deepEqual(readFileSync(keyPath), keyBytes, 'root key untouched');
  assert.notEqual(second.moduleId, first.moduleId, 'a new enclave instance');
  const trustedRoots = [root];
  const d1 = verifyNitroDocument(await first.attest({}), { trustedRoots });
  const d2 = verifyNitroDocument(await second.attest({}), { trustedRoots });
  assert.notEqual(d1.certificate.serialNumber, d2.certificate.serialNumber, 'each provider has its own leaf');

  // A half-present root is an error, never silently replaced by a new one.
  rmSync(keyPath);
  await assert.rejects(createSimulatedProvider({ rootDir }), (e: unknown) => e instanceof AttestationError && e.code === 'KH_ATTESTATION_PROVIDER_FAILED');
  assert.equal(readFileSync(certPath, 'utf8'), first.rootCertificatePem);
});

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

function fakePackage(t: TestContext): string {
  const src = join(tempDir(t), 'template');
  mkdirSync(join(src, 'dist', 'sub'), { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify({ name: 'keyhold', version: '0.0.0-test' }) + '\n');
  writeFileSync(join(src, 'dist', 'index.js'), 'export const a = 1;\n');
  writeFileSync(join(src, 'dist', 'sub', 'b.js'), 'export const b = 2;\n');
  writeFileSync(join(src, 'dist', 'Z-upper.js'), '// sorts before lower case in byte order\n');
  // A copy, as an installed package would be.
  const root = join(tempDir(t), 'installed');
  cpSync(src, root, { recursive: true });
  return root;
}

test('measureBuild(): PCR2 is the SHA-384 of the sha384sum manifest of dist and package.json; PCR1 the runtime; PCR0 both', (t) => {
  const root = fakePackage(t);
  const m = measureBuild({ root });
  assert.equal(m.root, root);
  assert.equal(m.codeDir, 'dist');
  assert.equal(m.files, 4);
  const { text } = codeManifest(root, 'dist');
  assert.equal(toHex(m.pcrs.get(2)), sha384(text));
  // Exactly what the documented shell pipeline prints.
  const shell = execFileSync('sh', ['-c', 'find dist package.json -type f | LC_ALL=C sort | xargs sha384sum'], { cwd: root, encoding: 'utf8' });
  assert.equal(text, shell);
  const shellPcr2 = execFileSync('sh', ['-c', 'find dist package.json -type f | LC_ALL=C sort | xargs sha384sum | sha384sum'], { cwd: root, encoding: 'utf8' }).split(' ')[0];
  assert.equal(toHex(m.pcrs.get(2)), shellPcr2);
  assert.equal(toHex(m.pcrs.get(1)), sha384(`node ${process.version} ${process.platform} ${process.arch}\n`));
  assert.equal(runtimeDescription(), `node ${process.version} ${process.platform} ${process.arch}\n`);
  assert.equal(toHex(m.pcrs.get(0)), sha384(Buffer.concat([m.pcrs.get(1)!, m.pcrs.get(2)!])));
  for (let i = 3; i < 16; i++) assert.equal(toHex(m.pcrs.get(i)), '00'.repeat(48), `PCR${i}`);
  assert.equal(m.pcrs.size, 16);
});

test('measureBuild(): PCR2 and PCR0 change when any file of the package changes, PCR1 does not', (t) => {
  const root = fakePackage(t);
  const base = measureBuild({ root });
  const again = measureBuild({ root });
  assert.equal(toHex(again.pcrs.get(2)), toHex(base.pcrs.get(2)), 'deterministic');

  const changes: Array<[string, () => void]> = [
    ['a file in dist/sub changes', () => writeFileSync(join(root, 'dist', 'sub', 'b.js'), 'export const b = 3;\n')],
    ['a file is added', () => writeFileSync(join(root, 'dist', 'extra.js'), '\n')],
    ['package.json changes', () => writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'keyhold', version: '0.0.1-test' }) + '\n')],
    ['a file is renamed', () => {
      rmSync(join(root, 'dist', 'extra.js'));
      writeFileSync(join(root, 'dist', 'extra2.js'), '\n');
    }],
  ];
  const seen = new Set([toHex(base.pcrs.get(2))]);
  for (const [label, change] of changes) {
    const prev = measureBuild({ root });
    change();
    const next = measureBuild({ root });
    assert.notEqual(toHex(next.pcrs.get(2)), toHex(prev.pcrs.get(2)), `${label}: PCR2`);
    assert.notEqual(toHex(next.pcrs.get(0)), toHex(prev.pcrs.get(0)), `${label}: PCR0`);
    assert.equal(toHex(next.pcrs.get(1)), toHex(prev.pcrs.get(1)), `${label}: PCR1`);
    seen.add(toHex(next.pcrs.get(2)));
  }
  assert.equal(seen.size, changes.length + 1);
  // Without dist/ the source folder is measured.
  const srcOnly = join(tempDir(t), 'src-only');
  mkdirSync(join(srcOnly, 'src'), { recursive: true });
  writeFileSync(join(srcOnly, 'package.json'), '{"name":"keyhold"}');
  writeFileSync(join(srcOnly, 'src', 'x.ts'), 'export {};\n');
  assert.equal(measureBuild({ root: srcOnly }).codeDir, 'src');
});

test('measureBuild() of the running Keyhold measures this checkout (src/, run through tsx or compiled for the tests), and the provider reports it', async (t) => {
  const root = installedPackageRoot();
  assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name, 'keyhold');
  const m = measureBuild();
  assert.equal(m.root, root);
  assert.equal(m.codeDir, 'src');
  const manifest = codeManifest(root, 'src');
  assert.equal(toHex(m.pcrs.get(2)), sha384(manifest.text));
  // The file that runs: measure.ts through tsx, measure.js in the runner's compiled tree (scripts/build-test-tree.mjs).
  assert.match(manifest.text, / {2}src\/attestation\/simulated\/measure\.[jt]s\n/);
  const provider = await createSimulatedProvider({ rootDir: join(tempDir(t), 'sim') });
  assert.deepEqual(pcrRecord(await provider.pcrs()), pcrRecord(m.pcrs));
});

// ---------------------------------------------------------------------------
// Server routes
// ---------------------------------------------------------------------------

interface EnclaveBody {
  publicKey: string;
  keyId: string;
  expiresAt: string;
  attestation: string | null;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('GET /v1/enclave: the attestation carries the channel key; GET /v1/enclave/attestation binds the nonce', async (t) => {
  const rootDir = join(tempDir(t), 'sim-root');
  const { server } = await runningVault(t, { enclave: { provider: 'simulated', simulated: { rootDir } } });
  const trustedRoots = [new X509Certificate(readFileSync(join(rootDir, ROOT_CERT_FILE)))];
  // The provider's PCRs are measureBuild()'s (previous test); read them from the server so an edit of src/ meanwhile cannot race.
  const expectedPcrs = pcrRecord(await server.services.enclave!.provider.pcrs());
  assert.equal(expectedPcrs[2]?.length, 96);

  const enclave = (await getJson(`${server.apiUrl}/v1/enclave`)).body as unknown as EnclaveBody;
  assert.match(enclave.publicKey, /^[0-9a-f]{64}$/);
  assert.match(enclave.keyId, /^ck-/);
  assert.ok(Date.parse(enclave.expiresAt) > Date.now());
  assert.equal(typeof enclave.attestation, 'string');
  const doc = verifyNitroDocument(fromB64(enclave.attestation!), { trustedRoots, expectedPcrs, now: new Date(), maxAgeMs: 300_000 });
  assert.ok(doc.moduleId.startsWith('keyhold-sim-'));
  assert.equal(toHex(doc.publicKey), enclave.publicKey, 'public_key = the channel key');
  assert.equal(doc.userData, undefined, 'no TLS: no user_data');
  assert.equal(doc.nonce, undefined);
  rejects(fromB64(enclave.attestation!), {}, 'KH_ATTESTATION_CHAIN_INVALID', 'without the simulated root configured');

  for (const bytes of [1, 16, 64]) {
    const nonce = randomBytes(bytes);
    const res = await getJson(`${server.apiUrl}/v1/enclave/attestation?nonce=${toHex(nonce)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.publicKey, enclave.publicKey);
    assert.equal(res.body.keyId, enclave.keyId);
    assert.equal(res.body.tlsCertificateSha256, null);
    const fresh = verifyNitroDocument(fromB64(res.body.attestation as string), { trustedRoots, nonce, expectedPcrs });
    assert.equal(toHex(fresh.publicKey), enclave.publicKey);
    assert.equal(fresh.moduleId, doc.moduleId, 'same enclave');
  }
  const upper = randomBytes(8);
  const upperRes = await getJson(`${server.apiUrl}/v1/enclave/attestation?nonce=${toHex(upper)!.toUpperCase()}`);
  assert.equal(upperRes.status, 200);
  assert.doesNotThrow(() => verifyNitroDocument(fromB64(upperRes.body.attestation as string), { trustedRoots, nonce: upper }));
  const noNonce = await getJson(`${server.apiUrl}/v1/enclave/attestation`);
  assert.equal(noNonce.status, 200);
  assert.equal(verifyNitroDocument(fromB64(noNonce.body.attestation as string), { trustedRoots }).nonce, undefined);

  for (const [label, nonce] of [
    ['65 bytes', '00'.repeat(65)],
    ['odd length', 'abc'],
    ['not hex', 'zz'],
    ['empty', ''],
  ] as const) {
    const res = await getJson(`${server.apiUrl}/v1/enclave/attestation?nonce=${nonce}`);
    assert.equal(res.status, 400, `${label}: ${JSON.stringify(res.body)}`);
    assert.deepEqual(Object.keys(res.body), ['error']);
  }
  const extra = await getJson(`${server.apiUrl}/v1/enclave/attestation?nonce=00&other=1`);
  assert.equal(extra.status, 400);
});

/** GET over TLS trusting `ca`; also returns the DER of the certificate the server presented. */
function httpsJson(url: string, ca: string): Promise<{ status: number; body: Record<string, unknown>; peerDer: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca }, (res) => {
      const peerDer = (res.socket as TLSSocket).getPeerCertificate().raw;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, peerDer }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('with TLS, user_data is the SHA-256 of the DER of the certificate served on the API port', async (t) => {
  const pki = makePki(tempDir(t));
  const rootDir = join(tempDir(t), 'sim-root');
  const { server } = await runningVault(t, {
    enclave: { provider: 'simulated', simulated: { rootDir } },
    listeners: { api: { host: '127.0.0.1', port: 0, tls: { certFile: pki.serverCert, keyFile: pki.serverKey } }, health: { port: 0 } },
  });
  assert.match(server.apiUrl, /^https:/);
  const ca = readFileSync(pki.caCert, 'utf8');
  const trustedRoots = [new X509Certificate(readFileSync(join(rootDir, ROOT_CERT_FILE)))];
  const served = new X509Certificate(readFileSync(pki.serverCert)).raw;
  const expected = createHash('sha256').update(served).digest('hex');

  const enclave = await httpsJson(`${server.apiUrl}/v1/enclave`, ca);
  assert.equal(enclave.status, 200);
  assert.equal(createHash('sha256').update(enclave.peerDer).digest('hex'), expected, 'the socket presented the configured certificate');
  const doc = verifyNitroDocument(fromB64(enclave.body.attestation as string), { trustedRoots });
  assert.equal(toHex(doc.userData), expected);
  assert.equal(toHex(doc.publicKey), enclave.body.publicKey);

  const nonce = randomBytes(32);
  const att = await httpsJson(`${server.apiUrl}/v1/enclave/attestation?nonce=${toHex(nonce)}`, ca);
  assert.equal(att.status, 200);
  assert.equal(att.body.tlsCertificateSha256, expected);
  const fresh = verifyNitroDocument(fromB64(att.body.attestation as string), { trustedRoots, nonce });
  assert.equal(toHex(fresh.userData), expected);

  // The same from a raw TLS handshake, independent of the HTTP stack.
  const url = new URL(server.apiUrl);
  const der = await new Promise<Buffer>((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(raw);
    });
    socket.on('error', reject);
  });
  assert.equal(createHash('sha256').update(der).digest('hex'), expected);
});

test('no provider configured: GET /v1/enclave/attestation is 404 KH_ATTESTATION_UNAVAILABLE; GET /v1/enclave has attestation null', async (t) => {
  const { server } = await runningVault(t);
  const enclave = await getJson(`${server.apiUrl}/v1/enclave`);
  assert.equal(enclave.status, 200);
  assert.equal(enclave.body.attestation, null);
  assert.match(enclave.body.publicKey as string, /^[0-9a-f]{64}$/, 'the channel still has a key');
  for (const url of ['/v1/enclave/attestation', '/v1/enclave/attestation?nonce=00']) {
    const res = await getJson(`${server.apiUrl}${url}`);
    assert.equal(res.status, 404, url);
    assert.deepEqual(Object.keys(res.body), ['error']);
    assert.equal((res.body.error as { code: string }).code, 'KH_ATTESTATION_UNAVAILABLE', url);
  }
});
