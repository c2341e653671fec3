/**
 * The SDK against a running server with the simulated enclave: it verifies
 * the attestation against pinned PCRs before sending anything, speaks the
 * channel, signs requests for bound tokens, and its typed methods agree with
 * direct calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyholdClient, KeyholdClientError } from '../../src/client/index.js';
import { measureBuild } from '../../src/attestation/simulated/measure.js';
import { runningVault, bearer } from '../helpers/keyhold.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function enclaveVault(t: Parameters<typeof runningVault>[0]) {
  const v = await runningVault(t, { enclave: { provider: 'simulated' } });
  const rootPem = readFileSync(join(v.dir, 'enclave-sim', 'root-cert.pem'), 'utf8');
  const pcrs = measureBuild().pcrs;
  return { ...v, rootPem, pcr0: hex(pcrs.get(0)!), pcr2: hex(pcrs.get(2)!) };
}

/** Counts what reaches the channel endpoint. */
function countingFetch() {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    calls.push(String(input));
    return fetch(input, init);
  };
  return { calls, fetch: f };
}

test('over the verified channel, the typed key methods agree with direct calls', async (t) => {
  const { server, rootToken, rootPem, pcr0, pcr2 } = await enclaveVault(t);
  const counting = countingFetch();
  const e2e = new KeyholdClient({ baseUrl: server.apiUrl, token: rootToken, e2e: { expectedPcrs: { 0: pcr0, 2: pcr2 }, trustedRoots: [rootPem], replaceRoots: true }, fetch: counting.fetch });
  const direct = new KeyholdClient({ baseUrl: server.apiUrl, token: rootToken });

  const info = await e2e.createKey('payments', 'aes256-gcm');
  assert.equal(info.name, 'payments');
  const ct = await e2e.encrypt('payments', 'card 4111', { associatedData: 'order-7' });
  assert.match(ct, /^keyhold:v1:/);
  assert.equal(Buffer.from(await direct.decrypt('payments', ct, { associatedData: 'order-7' })).toString(), 'card 4111');
  assert.equal(Buffer.from(await e2e.decrypt('payments', await direct.encrypt('payments', 'x'))).toString(), 'x');
  const dk = await e2e.generateDataKey('payments');
  assert.equal(dk.plaintext?.length, 32);
  assert.deepEqual(await e2e.listKeys(), ['payments']);
  assert.equal((await e2e.random(16)).length, 16);

  await e2e.createKey('signer', 'ed25519');
  const sig = await e2e.sign('signer', 'hello');
  assert.equal(await direct.verify('signer', 'hello', sig), true);

  // Every key operation went through the channel; nothing was sent in the clear.
  assert.ok(counting.calls.every((u) => u.includes('/v1/enclave')), counting.calls.join('\n'));
  assert.ok(counting.calls.filter((u) => u.endsWith('/v1/enclave/post')).length >= 8);

  // Errors of inner requests come back as KeyholdClientError with the server's code.
  await assert.rejects(e2e.encrypt('missing', 'x'), (e: unknown) => e instanceof KeyholdClientError && e.code === 'KH_KEY_NOT_FOUND' && e.status === 404);
});

test('the SDK sends nothing when the attestation does not match the pinned PCRs or root', async (t) => {
  const { server, rootToken, rootPem, pcr0 } = await enclaveVault(t);
  const cases = [
    { name: 'wrong PCR0', e2e: { expectedPcrs: { 0: '00'.repeat(48) }, trustedRoots: [rootPem], replaceRoots: true } },
    { name: 'AWS root only', e2e: { expectedPcrs: { 0: pcr0 } } },
  ];
  for (const c of cases) {
    const counting = countingFetch();
    const client = new KeyholdClient({ baseUrl: server.apiUrl, token: rootToken, e2e: c.e2e, fetch: counting.fetch });
    await assert.rejects(client.createKey('k', 'aes256-gcm'), (e: unknown) => e instanceof KeyholdClientError && e.code === 'KH_CLIENT_ATTESTATION_REFUSED', c.name);
    assert.deepEqual(counting.calls.filter((u) => !u.includes('/v1/enclave/attestation')), [], c.name);
  }
  assert.throws(() => new KeyholdClient({ baseUrl: server.apiUrl, e2e: { expectedPcrs: {} } }), TypeError);
});

test('a bound token signed by the SDK works directly and through the channel', async (t) => {
  const { server, rootToken, rootPem, pcr0 } = await enclaveVault(t);
  await fetch(`${server.apiUrl}/v1/auth/users`, { method: 'POST', headers: { ...bearer(rootToken), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ops', password: 'ops-password', groups: ['admins'] }) });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const login = await fetch(`${server.apiUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ops', password: 'ops-password', bindKey: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } }),
  });
  const { accessToken } = (await login.json()) as { accessToken: string };
  assert.equal(typeof accessToken, 'string');

  const unsigned = new KeyholdClient({ baseUrl: server.apiUrl, token: accessToken });
  await assert.rejects(unsigned.listKeys(), (e: unknown) => e instanceof KeyholdClientError && e.code === 'KH_SIG_MISSING');

  const direct = new KeyholdClient({ baseUrl: server.apiUrl, token: accessToken, signingKey: privateKey });
  await direct.createKey('bound', 'aes256-gcm');
  const e2e = new KeyholdClient({ baseUrl: server.apiUrl, token: accessToken, signingKey: privateKey, e2e: { expectedPcrs: { 0: pcr0 }, trustedRoots: [rootPem], replaceRoots: true } });
  const ct = await e2e.encrypt('bound', 'through the channel, signed');
  assert.equal(Buffer.from(await direct.decrypt('bound', ct)).toString(), 'through the channel, signed');
});
