// Self-test of the independent e2e client's plumbing (GET key, seal, POST,
// open, wipe) against a stub server written from docs/protocols.md §1 with an
// injected fetch. This proves the client is self-consistent, not that it
// interoperates: that is for a test against the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  IndependentE2eError,
  e2eRequest,
  hkdfSha256,
  innerRequestJson,
  openResponse,
  sealRequest,
  x25519Public,
  x25519Shared,
  xchachaOpen,
  xchachaSeal,
} from './independent-e2e-client.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (a: Uint8Array, b: Uint8Array): Uint8Array => Uint8Array.from([...a, ...b]);
const none = new Uint8Array(0);

const serverSecret = randomBytes(32);
const serverPublic = x25519Public(serverSecret);

/** The server side of §1, just enough to answer one request. */
function stubServer(envelope: Record<string, string>, answer: (inner: unknown) => unknown): Record<string, string> {
  const epk = hex(envelope.ephemeralPublicKey!);
  const shared = x25519Shared(serverSecret, epk);
  const reqKey = hkdfSha256(shared, cat(epk, serverPublic), utf8('keyhold e2e v1 request'), 32);
  const inner: unknown = JSON.parse(
    new TextDecoder().decode(xchachaOpen(reqKey, hex(envelope.nonce!), hex(envelope.ciphertext!), none)),
  );
  const ssk = randomBytes(32);
  const spk = x25519Public(ssk);
  const resKey = hkdfSha256(x25519Shared(ssk, epk), cat(spk, epk), utf8('keyhold e2e v1 response'), 32);
  const nonce = randomBytes(24);
  const ct = xchachaSeal(resKey, nonce, utf8(JSON.stringify(answer(inner))), none);
  return { ciphertext: toHex(ct), nonce: toHex(nonce), ephemeralPublicKey: toHex(spk) };
}

test('e2eRequest: GET key, seal, POST, open', async () => {
  const seen: unknown[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = String(input);
    if (url === 'http://vault.test/v1/enclave') {
      return Response.json({ publicKey: toHex(serverPublic), keyId: 'k1', expiresAt: '2030-01-01T00:00:00Z', attestation: null });
    }
    assert.equal(url, 'http://vault.test/v1/enclave/post');
    const envelope = JSON.parse(String(init?.body)) as Record<string, string>;
    assert.equal(envelope.keyId, 'k1');
    assert.match(envelope.nonce!, /^[0-9a-f]{48}$/);
    assert.match(envelope.ephemeralPublicKey!, /^[0-9a-f]{64}$/);
    return Response.json(
      stubServer(envelope, (inner) => {
        seen.push(inner);
        return { status: 201, headers: { 'content-type': 'application/json' }, body: { ok: true } };
      }),
    );
  };
  const res = await e2eRequest(
    'http://vault.test/',
    { method: 'POST', path: '/v1/keys/k/encrypt', headers: { Authorization: 'Bearer t' }, body: { plaintext: 'aGk=' } },
    { ts: 1732470000000, fetchImpl },
  );
  assert.deepEqual(res, { status: 201, headers: { 'content-type': 'application/json' }, body: { ok: true } });
  assert.deepEqual(seen, [
    {
      method: 'POST',
      path: '/v1/keys/k/encrypt',
      headers: { authorization: 'Bearer t' },
      body: { plaintext: 'aGk=' },
      ts: 1732470000000,
    },
  ]);
});

test('e2eRequest surfaces an outer 400 as outer_error', async () => {
  const fetchImpl: typeof fetch = async () => Response.json({ error: { code: 'KH_X' } }, { status: 400 });
  await assert.rejects(
    e2eRequest('http://vault.test', { method: 'GET', path: '/v1/sys/health' }, {
      serverKey: { publicKey: toHex(serverPublic), keyId: 'k1' },
      fetchImpl,
    }),
    (e: unknown) => e instanceof IndependentE2eError && e.code === 'outer_error' && e.outerStatus === 400,
  );
});

test('openResponse wipes esk and rejects a tampered response', () => {
  const { envelope, ephemeralSecret } = sealRequest(toHex(serverPublic), undefined, innerRequestJson({ method: 'GET', path: '/x' }, 1));
  assert.equal(envelope.keyId, undefined);
  const reply = stubServer({ ...envelope }, () => ({ status: 200, headers: {}, body: null }));
  const copy = ephemeralSecret.slice();
  assert.deepEqual(openResponse(ephemeralSecret, envelope.ephemeralPublicKey, reply), { status: 200, headers: {}, body: null });
  assert.ok(ephemeralSecret.every((b) => b === 0), 'esk wiped after use');

  const tampered = { ...reply, ciphertext: reply.ciphertext!.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
  assert.throws(
    () => openResponse(copy, envelope.ephemeralPublicKey, tampered),
    (e: unknown) => e instanceof IndependentE2eError && e.code === 'decryption_failed',
  );
  assert.ok(copy.every((b) => b === 0), 'esk wiped after failure too');
});
