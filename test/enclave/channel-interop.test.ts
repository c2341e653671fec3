/**
 * The end-to-end channel (docs/protocols.md §1) against a real listening server,
 * spoken only by the independent client (libsodium, written from the spec):
 * channel and direct calls see the same keys, the inner request passes the
 * same authentication and audit as a direct one, every answer comes under a
 * fresh server ephemeral key, and a cnf-bound token's RFC 9421 signature is
 * checked against the outer origin and cannot be replayed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLoginMessage } from '../../src/auth/machines.js';
import { signRequest } from '../../src/auth/http-signature.js';
import { bearer, runningVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { e2eRequest, fetchServerKey, innerRequestJson, openResponse, sealRequest, type InnerResponse, type ServerKey } from './independent-e2e-client.js';

const SIMULATED = { enclave: { provider: 'simulated' } };
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

async function direct(apiUrl: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { ...(token !== undefined && bearer(token)), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** One channel round trip done by hand, so the outer status and the response envelope can be inspected. */
async function rawChannel(apiUrl: string, key: ServerKey, innerJson: string): Promise<{ outerStatus: number; envelope: Record<string, string>; inner: InnerResponse }> {
  const { envelope, ephemeralSecret } = sealRequest(key.publicKey, key.keyId, innerJson);
  const res = await fetch(`${apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  const body = (await res.json()) as Record<string, string>;
  assert.equal(res.status, 200, `outer status: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(body).sort(), ['ciphertext', 'ephemeralPublicKey', 'nonce'], 'the outer answer is only the response envelope');
  return { outerStatus: res.status, envelope: body, inner: openResponse(ephemeralSecret, envelope.ephemeralPublicKey, body) };
}

const errorCode = (body: unknown): unknown => (body as { error?: { code?: unknown } } | null)?.error?.code;

test('a key made and used through the channel is the same key a direct call sees, both ways', async (t) => {
  const { server, rootToken } = await runningVault(t, SIMULATED);
  const auth = bearer(rootToken);

  const created = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/keys', headers: auth, body: { name: 'payments', type: 'aes256-gcm' } });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal((created.body as { name: string }).name, 'payments');
  assert.match(created.headers['content-type'] ?? '', /^application\/json/);
  assert.match(created.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);

  // Channel encrypt -> direct decrypt.
  const secret = b64('card 4111 1111 1111 1111');
  const enc = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/keys/payments/encrypt', headers: auth, body: { plaintext: secret } });
  assert.equal(enc.status, 200, JSON.stringify(enc.body));
  const ciphertext = (enc.body as { ciphertext: string }).ciphertext;
  assert.match(ciphertext, /^keyhold:v1:/);
  const dec = await direct(server.apiUrl, 'POST', '/v1/keys/payments/decrypt', rootToken, { ciphertext });
  assert.equal(dec.status, 200, JSON.stringify(dec.body));
  assert.equal(dec.body.plaintext, secret);

  // Direct encrypt -> channel decrypt.
  const other = b64('the other direction');
  const enc2 = await direct(server.apiUrl, 'POST', '/v1/keys/payments/encrypt', rootToken, { plaintext: other });
  assert.equal(enc2.status, 200, JSON.stringify(enc2.body));
  const dec2 = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/keys/payments/decrypt', headers: auth, body: { ciphertext: enc2.body.ciphertext } });
  assert.equal(dec2.status, 200, JSON.stringify(dec2.body));
  assert.equal((dec2.body as { plaintext: string }).plaintext, other);

  // The key listing agrees too, and a request without keyId goes to the current key.
  const key = await fetchServerKey(server.apiUrl);
  const { inner: listed } = await rawChannel(server.apiUrl, { publicKey: key.publicKey, keyId: key.keyId }, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: auth }, Date.now()));
  const noKeyId = sealRequest(key.publicKey, undefined, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: auth }, Date.now()));
  assert.equal(noKeyId.envelope.keyId, undefined);
  const res = await fetch(`${server.apiUrl}/v1/enclave/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(noKeyId.envelope) });
  assert.equal(res.status, 200);
  const viaCurrent = openResponse(noKeyId.ephemeralSecret, noKeyId.envelope.ephemeralPublicKey, await res.json());
  const directList = await direct(server.apiUrl, 'GET', '/v1/keys', rootToken);
  assert.deepEqual(listed.body, directList.body);
  assert.deepEqual(viaCurrent.body, directList.body);
});

test('an inner request without a token gets the inner 401 inside an encrypted 200', async (t) => {
  const { server } = await runningVault(t, SIMULATED);
  const key = await fetchServerKey(server.apiUrl);
  const { outerStatus, inner } = await rawChannel(server.apiUrl, key, innerRequestJson({ method: 'GET', path: '/v1/keys' }, Date.now()));
  assert.equal(outerStatus, 200);
  assert.equal(inner.status, 401);
  assert.equal(errorCode(inner.body), 'KH_AUTH_TOKEN_MISSING');
  const error = (inner.body as { error: { requestId: string } }).error;
  assert.equal(error.requestId, inner.headers['x-request-id'], 'the inner error names the inner request id');
  // A bad token is the inner route's answer as well, not an outer error.
  const bad = await rawChannel(server.apiUrl, key, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: bearer('not-a-token') }, Date.now()));
  assert.equal(bad.inner.status, 401);
  // An unknown inner route: the inner 404.
  const missing = await rawChannel(server.apiUrl, key, innerRequestJson({ method: 'GET', path: '/v1/no-such-route' }, Date.now()));
  assert.equal(missing.inner.status, 404);
  assert.equal(errorCode(missing.inner.body), 'KH_NOT_FOUND');
});

test('the audit log records the inner requests under their own routes', async (t) => {
  const file = join(tempDir(t), 'audit.log');
  const { server, rootToken } = await runningVault(t, { ...SIMULATED, audit: { file } });
  const auth = bearer(rootToken);
  const created = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/keys', headers: auth, body: { name: 'audited', type: 'aes256-gcm' } });
  assert.equal(created.status, 200);
  const plaintext = b64('audited secret');
  const enc = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/keys/audited/encrypt', headers: auth, body: { plaintext } });
  assert.equal(enc.status, 200);
  const refused = await e2eRequest(server.apiUrl, { method: 'GET', path: '/v1/keys' });
  assert.equal(refused.status, 401);

  const text = readFileSync(file, 'utf8');
  const entries = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const byRequest = (id: string | undefined) => entries.filter((e) => e.requestId === id);

  const encEntries = byRequest(enc.headers['x-request-id']);
  const encRequest = encEntries.find((e) => e.type === 'request');
  assert.ok(encRequest, `no audit entry for the inner encrypt (${enc.headers['x-request-id']})`);
  assert.equal(encRequest.method, 'POST');
  assert.equal(encRequest.operation, 'encrypt');
  assert.match(String(encRequest.route), /^\/v1\/keys\/[^/]+\/encrypt$/);
  assert.notEqual(encRequest.principal, null, 'the inner request was authenticated');
  assert.ok(encEntries.some((e) => e.type === 'response' && e.status === 200), 'its response is audited too');

  const createRequest = byRequest(created.headers['x-request-id']).find((e) => e.type === 'request');
  assert.equal(createRequest?.route, '/v1/keys');
  assert.equal(createRequest?.operation, 'createKey');

  const refusal = byRequest(refused.headers['x-request-id']);
  assert.ok(
    refusal.some((e) => e.type === 'refused' && e.code === 'KH_AUTH_TOKEN_MISSING' && e.status === 401 && e.route === '/v1/keys'),
    `the refused inner request is audited: ${JSON.stringify(refusal)}`,
  );

  // The outer channel posts are audited as well, and nothing secret is in the clear.
  assert.equal(entries.filter((e) => e.type === 'request' && e.route === '/v1/enclave/post').length, 3);
  for (const s of [rootToken, plaintext, 'audited', String((enc.body as { ciphertext: string }).ciphertext)]) assert.ok(!text.includes(`"${s}"`), `${s.slice(0, 12)}… in the audit log`);
});

test('every response comes under a fresh server ephemeral key', async (t) => {
  const { server, rootToken } = await runningVault(t, SIMULATED);
  const key = await fetchServerKey(server.apiUrl);
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const { envelope, inner } = await rawChannel(server.apiUrl, key, innerRequestJson({ method: 'GET', path: '/v1/keys', headers: bearer(rootToken) }, Date.now()));
    assert.equal(inner.status, 200);
    assert.match(envelope.ephemeralPublicKey!, /^[0-9a-f]{64}$/);
    assert.match(envelope.nonce!, /^[0-9a-f]{48}$/);
    assert.notEqual(envelope.ephemeralPublicKey, key.publicKey, 'not the long-lived channel key');
    seen.add(envelope.ephemeralPublicKey!);
  }
  assert.equal(seen.size, 8);
});

test('a bound token signed per RFC 9421 with the outer origin works through the channel; the same signature replayed fails', async (t) => {
  const { server, rootToken } = await runningVault(t, SIMULATED);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const reg = await direct(server.apiUrl, 'POST', '/v1/auth/machines', rootToken, { name: 'builder', publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(), groups: ['admins'] });
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  assert.equal((await direct(server.apiUrl, 'POST', '/v1/keys', rootToken, { name: 'm1', type: 'aes256-gcm' })).status, 200);

  // The machine logs in through the channel too (public routes pass through unchanged).
  const ch = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/auth/machine/challenge', body: { name: 'builder' } });
  assert.equal(ch.status, 200, JSON.stringify(ch.body));
  const challenge = (ch.body as { challenge: string }).challenge;
  const signature = cryptoSign(null, machineLoginMessage('keyhold', 'builder', challenge), privateKey).toString('base64url');
  const login = await e2eRequest(server.apiUrl, { method: 'POST', path: '/v1/auth/machine/login', body: { name: 'builder', challenge, signature } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = (login.body as { accessToken: string }).accessToken;
  const authorization = `Bearer ${token}`;

  const path = '/v1/keys/m1/encrypt';
  const body = { plaintext: b64('signed through the channel') };
  const signedHeaders = (authority: string): Record<string, string> => ({
    authorization,
    ...signRequest({ method: 'POST', targetUri: `${authority}${path}`, authorization, privateKey, body: Buffer.from(JSON.stringify(body)) }),
  });

  const alone = await e2eRequest(server.apiUrl, { method: 'POST', path, headers: { authorization }, body });
  assert.equal(errorCode(alone.body), 'KH_SIG_MISSING', 'the bound token alone is refused inside the channel as outside');

  const headers = signedHeaders(server.apiUrl);
  const ok = await e2eRequest(server.apiUrl, { method: 'POST', path, headers, body });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const ciphertext = (ok.body as { ciphertext: string }).ciphertext;
  const check = await direct(server.apiUrl, 'POST', '/v1/keys/m1/decrypt', rootToken, { ciphertext });
  assert.equal(check.body.plaintext, body.plaintext);

  // Same inner headers in a new envelope (new epk, so the channel's own replay check passes): the signature nonce is spent.
  const replayed = await e2eRequest(server.apiUrl, { method: 'POST', path, headers, body });
  assert.equal(replayed.status, 401);
  assert.equal(errorCode(replayed.body), 'KH_SIG_REPLAYED');
  // ... and replayed outside the channel, to the same URI, as well.
  const res = await fetch(`${server.apiUrl}${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 401);
  assert.equal(errorCode(await res.json()), 'KH_SIG_REPLAYED');

  // A signature whose @target-uri names another authority than the one the client addressed does not verify.
  const elsewhere = await e2eRequest(server.apiUrl, { method: 'POST', path, headers: signedHeaders('http://enclave.internal:8080'), body });
  assert.equal(elsewhere.status, 401);
  assert.equal(errorCode(elsewhere.body), 'KH_SIG_INVALID');
  // A body other than the signed one fails the digest.
  const swapped = await e2eRequest(server.apiUrl, { method: 'POST', path, headers: signedHeaders(server.apiUrl), body: { plaintext: b64('swapped') } });
  assert.equal(errorCode(swapped.body), 'KH_SIG_DIGEST_MISMATCH');
});
