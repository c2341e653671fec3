/**
 * /v1/secrets over the real app: the KV v2 lifecycle, limits and error
 * codes; release-policy secrets sealed to an attested recipient; a Cedar
 * bundle that lets a Workload read one folder only, by its PCR0; and no
 * secret value or path in the audit log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bearer } from '../helpers/keyhold.js';
import { documentFor, loginWorkload, workloadVault, type WorkloadVault } from '../helpers/workload.js';
import { createSimulatedProvider } from '../../src/attestation/simulated/simulated-provider.js';
import { hpkeOpenX25519 } from '../../src/crypto/recipient/hpke-x25519.js';
import { RECIPIENT_INFO } from '../../src/crypto/recipient/recipient-envelope.js';
import { signBundle } from '../../src/policy/bundle.js';
import { MAX_FILE_BYTES } from '../../src/secrets/secret-limits.js';

type Res = { statusCode: number; body: string; json: <T = Record<string, unknown>>() => T };
const codeOf = (r: Res) => r.json<{ error: { code: string } }>().error.code;

function rootCaller(v: WorkloadVault) {
  return async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown): Promise<Res> =>
    v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload !== undefined && { payload: payload as object }) });
}

test('the KV v2 lifecycle over HTTP: write, versions, CAS, delete, undelete, destroy, metadata, list', async (t) => {
  const v = await workloadVault(t, () => ({}));
  const call = rootCaller(v);
  const w1 = await call('POST', '/v1/secrets/data/app/db', { data: { user: 'app', password: 'pw-one-5d1e' } });
  assert.equal(w1.statusCode, 200, w1.body);
  assert.deepEqual([w1.json().version, w1.json().type], [1, 'kv']);
  assert.equal((await call('POST', '/v1/secrets/data/app/db', { data: { password: 'pw-two-77aa' }, options: { cas: 1 } })).statusCode, 200);
  const cas = await call('POST', '/v1/secrets/data/app/db', { data: { password: 'x' }, options: { cas: 1 } });
  assert.deepEqual([cas.statusCode, codeOf(cas)], [409, 'KH_SECRET_CAS_MISMATCH']);
  const latest = await call('GET', '/v1/secrets/data/app/db');
  assert.deepEqual(latest.json<{ data: unknown }>().data, { password: 'pw-two-77aa' });
  assert.equal((await call('GET', '/v1/secrets/data/app/db?version=1')).json<{ data: { password: string } }>().data.password, 'pw-one-5d1e');
  assert.equal((await call('POST', '/v1/secrets/delete/app/db', {})).json<{ versions: Record<string, { deletedAt?: string }> }>().versions['2']!.deletedAt !== undefined, true);
  const gone = await call('GET', '/v1/secrets/data/app/db');
  assert.deepEqual([gone.statusCode, codeOf(gone)], [410, 'KH_SECRET_VERSION_DELETED']);
  assert.equal((await call('POST', '/v1/secrets/undelete/app/db', { versions: [2] })).statusCode, 200);
  assert.equal((await call('GET', '/v1/secrets/data/app/db')).statusCode, 200);
  assert.equal(codeOf(await call('POST', '/v1/secrets/undelete/app/db', {})), 'KH_SECRET_INVALID');
  assert.equal((await call('POST', '/v1/secrets/destroy/app/db', { versions: [1] })).json<{ versions: Record<string, { destroyed: boolean }> }>().versions['1']!.destroyed, true);
  assert.equal(codeOf(await call('GET', '/v1/secrets/data/app/db?version=1')), 'KH_SECRET_VERSION_DESTROYED');
  const meta = await call('POST', '/v1/secrets/metadata/app/db', { maxVersions: 5, customMetadata: { owner: 'db-team' }, casRequired: true });
  assert.deepEqual([meta.json().maxVersions, meta.json().casRequired, meta.json().currentVersion], [5, true, 2]);
  assert.equal(codeOf(await call('POST', '/v1/secrets/data/app/db', { data: { a: 'b' } })), 'KH_SECRET_CAS_REQUIRED');
  assert.equal((await call('GET', '/v1/secrets/metadata/app/db')).json<{ customMetadata: { owner: string } }>().customMetadata.owner, 'db-team');
  await call('POST', '/v1/secrets/data/app/web/env', { data: { PORT: '443' } });
  await call('POST', '/v1/secrets/data/top', { files: { 'config.yaml': Buffer.from('a: 1\n').toString('base64') } });
  assert.deepEqual((await call('GET', '/v1/secrets/list/')).json(), { keys: ['app/', 'top'] });
  assert.deepEqual((await call('GET', '/v1/secrets/list/app/')).json(), { keys: ['db', 'web/'] });
  assert.equal(Buffer.from((await call('GET', '/v1/secrets/data/top')).json<{ files: Record<string, string> }>().files['config.yaml']!, 'base64').toString(), 'a: 1\n');
  assert.deepEqual((await call('DELETE', '/v1/secrets/metadata/app/db')).json(), { deleted: true });
  assert.deepEqual([(await call('GET', '/v1/secrets/metadata/app/db')).statusCode, codeOf(await call('GET', '/v1/secrets/data/app/db'))], [404, 'KH_SECRET_NOT_FOUND']);
  for (const bad of ['/v1/secrets/data/a//b', '/v1/secrets/data/', '/v1/secrets/data/.x']) assert.equal(codeOf(await call('GET', bad)), 'KH_SECRET_PATH_INVALID', bad);
});

test('a 1 MiB file is accepted over HTTP, one byte more is a 413', async (t) => {
  const v = await workloadVault(t, () => ({}));
  const call = rootCaller(v);
  const ok = await call('POST', '/v1/secrets/data/files/big', { files: { 'disk.key': Buffer.alloc(MAX_FILE_BYTES, 1).toString('base64') } });
  assert.equal(ok.statusCode, 200, ok.body.slice(0, 200));
  const big = await call('POST', '/v1/secrets/data/files/big', { files: { 'disk.key': Buffer.alloc(MAX_FILE_BYTES + 1, 1).toString('base64') } });
  assert.equal(big.statusCode >= 400 && big.statusCode < 500, true);
  assert.ok(['KH_SECRET_TOO_LARGE', 'KH_BAD_REQUEST'].includes(codeOf(big)), codeOf(big));
  const tooMany = await call('POST', '/v1/secrets/data/files/big', { files: { a: Buffer.alloc(MAX_FILE_BYTES).toString('base64'), b: Buffer.alloc(MAX_FILE_BYTES).toString('base64'), c: 'AAAA' } });
  assert.deepEqual([tooMany.statusCode, codeOf(tooMany)], [413, 'KH_SECRET_TOO_LARGE']);
});

test('a secret with a release policy: plain reads refused, sealed to a matching recipient, 403 for other PCRs', async (t) => {
  const v = await workloadVault(t, () => ({}));
  const call = rootCaller(v);
  await call('POST', '/v1/secrets/metadata/enclave/disk', { releasePolicy: { pcrs: { 0: v.pcr0 } } });
  await call('POST', '/v1/secrets/data/enclave/disk', { data: { key: 'disk-key-9b8c7d' } });
  const plain = await call('GET', '/v1/secrets/data/enclave/disk');
  assert.deepEqual([plain.statusCode, codeOf(plain)], [403, 'KH_RELEASE_RECIPIENT_REQUIRED']);
  assert.ok(!plain.body.includes('disk-key-9b8c7d'));
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const pub = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  const sec = new Uint8Array(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  const released = await call('POST', '/v1/secrets/release/enclave/disk', { recipient: { attestationDocument: await documentFor(v.enclave, undefined, pub) } });
  assert.equal(released.statusCode, 200, released.body);
  assert.ok(!released.body.includes('disk-key-9b8c7d'));
  const r = released.json<{ ciphertextForRecipient: string; recipientAlgorithm: string; version: number }>();
  assert.equal(r.recipientAlgorithm, 'HPKE_X25519_SHA256_AES256GCM');
  const opened = await hpkeOpenX25519(sec, new Uint8Array(Buffer.from(r.ciphertextForRecipient, 'base64')), RECIPIENT_INFO);
  assert.deepEqual(JSON.parse(Buffer.from(opened!).toString()), { data: { key: 'disk-key-9b8c7d' }, files: {} });
  const other = await createSimulatedProvider({ rootDir: join(v.dir, 'enclave-sim'), pcrs: new Map([[0, new Uint8Array(48).fill(9)]]) });
  t.after(() => other.close());
  const wrong = await call('POST', '/v1/secrets/release/enclave/disk', { recipient: { attestationDocument: await documentFor(other, undefined, pub) } });
  assert.deepEqual([wrong.statusCode, codeOf(wrong)], [403, 'KH_RELEASE_PCR_MISMATCH']);
});

test('a Cedar bundle lets a Workload read app/* only, and only with its PCR0', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const v = await workloadVault(t, (pcr0) => ({ web: { pcrs: { 0: pcr0 } }, anyBuild: { allowAnyMeasurement: true } }), {
    policy: { trustedKeys: [{ kid: 'ops', publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString() }] },
  });
  const call = rootCaller(v);
  await call('POST', '/v1/secrets/data/app/db', { data: { password: 'app-db-pw-3e3e' } });
  await call('POST', '/v1/secrets/data/web/tls-key', { data: { key: 'other-secret-4f4f' } });
  const policies = `@id("root")
permit(principal == Keyhold::User::"root", action, resource);

@id("workloads-read-app")
permit(principal is Keyhold::Workload, action == Keyhold::Action::"readSecret", resource is Keyhold::Secret)
when { principal has pcr0 && principal.pcr0 == "${v.pcr0}" && resource.path like "app/*" };
`;
  const bundle = new TextEncoder().encode(JSON.stringify({ version: 1, issuedAt: '2026-01-01T00:00:00Z', policies, entities: [] }));
  const pushed = await call('POST', '/v1/sys/policy', { bundle: Buffer.from(bundle).toString('base64'), signature: await signBundle(bundle, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'ops') });
  assert.equal(pushed.statusCode, 200, pushed.body);

  const web = await loginWorkload(v.app, v.enclave, 'web');
  const read = await web.call('GET', '/v1/secrets/data/app/db');
  assert.equal(read.statusCode, 200, read.body);
  assert.equal(read.json<{ data: { password: string } }>().data.password, 'app-db-pw-3e3e');
  assert.equal(codeOf(await web.call('GET', '/v1/secrets/data/web/tls-key')), 'KH_AUTH_PERMISSION_DENIED');
  assert.equal(codeOf(await web.call('POST', '/v1/secrets/data/app/db', { data: { password: 'overwrite' } })), 'KH_AUTH_PERMISSION_DENIED');
  assert.equal(codeOf(await web.call('GET', '/v1/secrets/metadata/app/db')), 'KH_AUTH_PERMISSION_DENIED');

  // A workload of another build logs in under a role that pins nothing, but its PCR0 does not satisfy the policy.
  const other = await createSimulatedProvider({ rootDir: join(v.dir, 'enclave-sim'), pcrs: new Map([[0, new Uint8Array(48).fill(3)], [1, new Uint8Array(48).fill(1)], [2, new Uint8Array(48).fill(2)]]) });
  t.after(() => other.close());
  const stranger = await loginWorkload(v.app, other, 'anyBuild');
  assert.equal(codeOf(await stranger.call('GET', '/v1/secrets/data/app/db')), 'KH_AUTH_PERMISSION_DENIED');
});

test('the audit log holds no secret value, file content or path in the clear', async (t) => {
  const v = await workloadVault(t, () => ({}));
  const call = rootCaller(v);
  const value = 'audit-needle-value-6a6a6a';
  const fileText = 'audit-needle-file-7b7b7b';
  const path = 'audit-needle-path/db';
  // Data keys named like the fields redaction keeps in the clear ("type", "format", ...).
  await call('POST', `/v1/secrets/data/${path}`, { data: { password: value, type: value, format: value, code: value, state: value }, files: { 'f.txt': Buffer.from(fileText).toString('base64') } });
  await call('GET', `/v1/secrets/data/${path}`);
  await call('POST', `/v1/secrets/data/${path}`, { generate: { kind: 'password' } });
  const generated = (await call('GET', `/v1/secrets/data/${path}`)).json<{ data: { password: string } }>().data.password;
  await call('GET', '/v1/secrets/list/');
  await call('POST', `/v1/secrets/metadata/${path}`, { customMetadata: { note: value } });
  const log = readFileSync(v.auditPath, 'utf8');
  assert.ok(log.includes('readSecret') && log.includes('writeSecret'), 'the requests were audited');
  for (const needle of [value, fileText, Buffer.from(fileText).toString('base64'), 'audit-needle-path', generated]) assert.equal(log.includes(needle), false, `audit log contains ${needle.slice(0, 12)}…`);
});
