/**
 * RFC 9421 signed requests (docs/protocols.md §5): RFC 9421 / 9530 / 7638 / 8037
 * known answers, the Keyhold profile round trip, every refusal with its exact
 * code, the replay cache, and a fast-check property over malformed fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint } from 'jose';
import { KeyholdError, type ErrorCode } from '../../src/errors.js';
import {
  checkContentDigest,
  contentDigest,
  signatureBase,
  signRequest,
  verifyRequestSignature,
  type SignatureHeaders,
  type VerifyRequestInput,
} from '../../src/auth/http-signature.js';
import { NonceCache } from '../../src/auth/nonce-cache.js';
import { jwkThumbprint } from '../../src/auth/jwk-thumbprint.js';

// RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.1.3 (test-key-ecc-p256).
const RFC_ED25519 = createPrivateKey('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n');
const RFC_P256_PUBLIC: JsonWebKey = { kty: 'EC', crv: 'P-256', x: 'qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA', y: 'Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0' };
const RFC_P256 = createPrivateKey({ key: { ...RFC_P256_PUBLIC, d: 'UpuF81l-kOxbjf7T4mNSv0r5tN67Gim7rnf6EFpcYDs' }, format: 'jwk' });

const NOW = 1_700_000_000_000;
const URI = 'https://vault.example:8200/v1/keys/app/encrypt?x=1';
const AUTH = 'Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtIn0.c2ln';
const BODY = new TextEncoder().encode('{"plaintext":"aGk="}');

function publicJwk(key: KeyObject): JsonWebKey {
  return createPublicKey(key).export({ format: 'jwk' });
}

/** A verify input for headers made by signRequest(key), every field overridable. */
function verifyInput(key: KeyObject, h: SignatureHeaders, over: Partial<VerifyRequestInput> = {}): VerifyRequestInput {
  const jwk = publicJwk(key);
  const headers: Record<string, string> = { authorization: AUTH, 'signature-input': h['signature-input'], signature: h.signature };
  if (h['content-digest'] !== undefined) headers['content-digest'] = h['content-digest'];
  return {
    method: 'POST',
    targetUri: URI,
    headers,
    expectedKeyId: jwkThumbprint(jwk),
    publicJwk: jwk,
    now: NOW,
    nonces: new NonceCache(),
    hasBody: h['content-digest'] !== undefined,
    ...over,
  };
}

function signed(key: KeyObject, over: { body?: Uint8Array; now?: number; nonce?: string } = {}): SignatureHeaders {
  return signRequest({ method: 'POST', targetUri: URI, authorization: AUTH, privateKey: key, now: NOW, ...over });
}

function assertCode(fn: () => unknown, code: ErrorCode, what?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof KeyholdError, `${what ?? code}: not a KeyholdError: ${String(e)}`);
    assert.equal(e.code, code, `${what ?? code}: ${String((e.cause as Error | undefined)?.message)}`);
    return true;
  });
}

/**
 * Signs an arbitrary Signature-Input inner list (for shapes signRequest
 * refuses to make), so that refusals are for the stated reason and not for a
 * bad signature.
 */
function signCustom(key: KeyObject, innerList: string, covered: [string, string][]): SignatureHeaders {
  const base = signatureBase(covered, innerList);
  const sig = sign(null, Buffer.from(base), key);
  return { 'signature-input': `sig1=${innerList}`, signature: `sig1=:${sig.toString('base64')}:` };
}

// --- Known answers --------------------------------------------------------

test('RFC 9530 §2 example: Content-Digest of {"hello": "world"}', () => {
  const body = new TextEncoder().encode('{"hello": "world"}');
  assert.equal(contentDigest(body), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
});

test('checkContentDigest: sha-256 must be present and match; other algorithms are ignored', () => {
  const body = new TextEncoder().encode('{"hello": "world"}');
  const sha256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
  const sha512 = 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';
  assert.equal(checkContentDigest(sha256, body), true);
  assert.equal(checkContentDigest(`${sha512}, ${sha256}`, body), true);
  assert.equal(checkContentDigest([sha512, sha256], body), true);
  assert.equal(checkContentDigest(sha512, body), false, 'no sha-256');
  assert.equal(checkContentDigest(undefined, body), false);
  assert.equal(checkContentDigest(sha256, new TextEncoder().encode('{"hello": "world!"}')), false);
  assert.equal(checkContentDigest('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:', body), false, 'unpadded base64');
  assert.equal(checkContentDigest('sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="', body), false, 'string, not bytes');
  assert.equal(checkContentDigest(`${sha256},`, body), false, 'not a dictionary');
  assert.equal(checkContentDigest(`${sha256}, sha-256=:AAAA:`, body), false, 'duplicate key');
  assert.equal(checkContentDigest('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:', new Uint8Array()), true, 'empty body');
});

test('RFC 7638 §3.1 and RFC 8037 A.3 thumbprints; members beyond the required ones do not count; jose agrees', async () => {
  const rsa = {
    kty: 'RSA',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29',
    n:
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  };
  assert.equal(jwkThumbprint(rsa), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  const ed = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
  assert.equal(jwkThumbprint(ed), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  assert.equal(jwkThumbprint({ ...ed, d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A', kid: 'k' }), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  for (const type of ['ed25519', 'p256'] as const) {
    for (let i = 0; i < 5; i++) {
      const { publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = publicKey.export({ format: 'jwk' });
      assert.equal(jwkThumbprint(jwk), await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0], 'sha256'));
    }
  }
  assert.throws(() => jwkThumbprint({ kty: 'oct', k: 'AAAA' }), TypeError);
  assert.throws(() => jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'AAAA' }), TypeError);
});

test('RFC 9421 B.2.6: the signature base and the Ed25519 signature (test-key-ed25519) are byte-exact', () => {
  const base = signatureBase(
    [
      ['date', 'Tue, 20 Apr 2021 02:07:55 GMT'],
      ['@method', 'POST'],
      ['@path', '/foo'],
      ['@authority', 'example.com'],
      ['content-type', 'application/json'],
      ['content-length', '18'],
    ],
    '("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
  );
  assert.equal(
    base,
    [
      '"date": Tue, 20 Apr 2021 02:07:55 GMT',
      '"@method": POST',
      '"@path": /foo',
      '"@authority": example.com',
      '"content-type": application/json',
      '"content-length": 18',
      '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
    ].join('\n'),
  );
  assert.equal(
    sign(null, Buffer.from(base), RFC_ED25519).toString('base64'),
    'wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==',
  );
});

test('RFC 9421 B.2.4: the published ecdsa-p256-sha256 signature (r||s) verifies over our signature base', () => {
  const base = signatureBase(
    [
      ['@status', '200'],
      ['content-type', 'application/json'],
      ['content-digest', 'sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:'],
      ['content-length', '23'],
    ],
    '("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"',
  );
  const sig = Buffer.from('wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==', 'base64');
  const key = createPublicKey({ key: RFC_P256_PUBLIC, format: 'jwk' });
  assert.equal(verify('sha256', Buffer.from(base), { key, dsaEncoding: 'ieee-p1363' }, sig), true);
});

test('profile vector: signRequest builds exactly the §2.5 signature base written out by hand (Ed25519 is deterministic)', () => {
  const nonce = 'bm9uY2Utb2YtdGVzdA';
  const h = signRequest({ method: 'post', targetUri: URI, authorization: AUTH, body: BODY, privateKey: RFC_ED25519, now: 1_618_884_473_900, nonce });
  const keyid = 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U'; // thumbprint of test-key-ed25519
  assert.equal(jwkThumbprint(publicJwk(RFC_ED25519)), keyid);
  const params = `("@method" "@target-uri" "content-digest" "authorization");created=1618884473;expires=1618884533;nonce="${nonce}";keyid="${keyid}";alg="ed25519"`;
  const digest = 'sha-256=:zz6pgDRnBLZpuBXtmXikmt47oDNOd3jr5eyB3dG/JT0=:';
  const base = [`"@method": POST`, `"@target-uri": ${URI}`, `"content-digest": ${digest}`, `"authorization": ${AUTH}`, `"@signature-params": ${params}`].join('\n');
  assert.equal(h['content-digest'], contentDigest(BODY));
  assert.equal(h['content-digest'], digest);
  assert.equal(h['signature-input'], `sig1=${params}`);
  assert.equal(h.signature, `sig1=:${sign(null, Buffer.from(base), RFC_ED25519).toString('base64')}:`);
});

// --- Round trips ----------------------------------------------------------

for (const [name, key] of [
  ['ed25519', RFC_ED25519],
  ['ecdsa-p256-sha256', RFC_P256],
] as const) {
  test(`${name}: round trip with and without a body; the result names key, alg and window`, () => {
    const withBody = signed(key, { body: BODY });
    assert.match(withBody['signature-input'], new RegExp(`;alg="${name}"$`));
    const r = verifyRequestSignature(verifyInput(key, withBody));
    assert.deepEqual({ alg: r.alg, keyid: r.keyid, window: r.expires - r.created }, { alg: name, keyid: jwkThumbprint(publicJwk(key)), window: 60 });
    const bare = signed(key);
    assert.equal(bare['content-digest'], undefined);
    assert.match(bare['signature-input'], /^sig1=\("@method" "@target-uri" "authorization"\);/);
    verifyRequestSignature(verifyInput(key, bare));
    // An empty body is no body (nothing to digest).
    assert.equal(signed(key, { body: new Uint8Array() })['content-digest'], undefined);
  });
}

test('a fresh ed25519 and P-256 key pair round-trip too (keys come through the cache by thumbprint)', () => {
  for (const pair of [generateKeyPairSync('ed25519'), generateKeyPairSync('ec', { namedCurve: 'P-256' })]) {
    const nonces = new NonceCache();
    for (let i = 0; i < 3; i++) verifyRequestSignature(verifyInput(pair.privateKey, signed(pair.privateKey, { body: BODY }), { nonces }));
  }
});

test('covered components may come in any order; other signatures beside sig1 are ignored; field lines are combined', () => {
  const key = RFC_ED25519;
  const keyid = jwkThumbprint(publicJwk(key));
  const inner = `("authorization" "content-digest" "@target-uri" "@method");created=${NOW / 1000};expires=${NOW / 1000 + 30};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`;
  const h = signCustom(key, inner, [
    ['authorization', AUTH],
    ['content-digest', contentDigest(BODY)],
    ['@target-uri', URI],
    ['@method', 'POST'],
  ]);
  const other = 'sig-b26=("date" "@method");created=1618884473;keyid="test-key-ed25519"';
  verifyRequestSignature(verifyInput(key, { ...h, 'content-digest': contentDigest(BODY) }, { headers: { authorization: AUTH, 'content-digest': contentDigest(BODY), 'signature-input': [other, h['signature-input']], signature: `sig-b26=:AAAA:, ${h.signature}` } }));
});

// --- Refusals -------------------------------------------------------------

test('tampering with method, target URI, authorization, the digest or the signature gives KH_SIG_INVALID', () => {
  for (const key of [RFC_ED25519, RFC_P256]) {
    const h = signed(key, { body: BODY });
    const good = verifyInput(key, h);
    const headers = good.headers as Record<string, string>;
    assertCode(() => verifyRequestSignature({ ...good, method: 'PUT' }), 'KH_SIG_INVALID', 'method');
    assertCode(() => verifyRequestSignature({ ...good, targetUri: URI.replace('app', 'other') }), 'KH_SIG_INVALID', 'uri');
    assertCode(() => verifyRequestSignature({ ...good, headers: { ...headers, authorization: `${AUTH}x` } }), 'KH_SIG_INVALID', 'authorization');
    assertCode(() => verifyRequestSignature({ ...good, headers: { ...headers, 'content-digest': contentDigest(new Uint8Array([1])) } }), 'KH_SIG_INVALID', 'digest');
    const sig = Buffer.from(h.signature.slice(6, -1), 'base64');
    sig[10] = sig[10]! ^ 1;
    assertCode(() => verifyRequestSignature({ ...good, headers: { ...headers, signature: `sig1=:${sig.toString('base64')}:` } }), 'KH_SIG_INVALID', 'signature bit');
    assertCode(() => verifyRequestSignature({ ...good, headers: { ...headers, signature: 'sig1=:AAAA:' } }), 'KH_SIG_INVALID', 'short signature');
    verifyRequestSignature(good); // the untouched request still passes: failures recorded no nonce
  }
});

test('covered components must be exactly the profile set for the body state', () => {
  const key = RFC_ED25519;
  const keyid = jwkThumbprint(publicJwk(key));
  const p = `;created=${NOW / 1000};expires=${NOW / 1000 + 60};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`;
  const values: Record<string, string> = { '@method': 'POST', '@target-uri': URI, authorization: AUTH, 'content-digest': contentDigest(BODY), '@path': '/v1/keys/app/encrypt' };
  const make = (list: string[], extra = '') => signCustom(key, `(${list.map((c) => `"${c}"${extra}`).join(' ')})${p}`, list.map((c) => [c, values[c]!]));
  const withDigest = (h: SignatureHeaders, hasBody: boolean) => verifyInput(key, h, { hasBody, headers: { authorization: AUTH, 'content-digest': contentDigest(BODY), 'signature-input': h['signature-input'], signature: h.signature } });
  // Signed without content-digest, but the request has a body (body swapped in).
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@target-uri', 'authorization']), true)), 'KH_SIG_INVALID', 'digest not covered');
  // content-digest covered on a request without a body.
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@target-uri', 'content-digest', 'authorization']), false)), 'KH_SIG_INVALID', 'digest covered without body');
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@target-uri', 'authorization', '@path']), false)), 'KH_SIG_INVALID', 'extra component');
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@target-uri']), false)), 'KH_SIG_INVALID', 'authorization not covered');
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@method', '@target-uri', 'authorization']), false)), 'KH_SIG_INVALID', 'duplicate');
  // Four entries, as many as with a body, but one repeated in place of content-digest.
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@method', '@target-uri', 'authorization']), true)), 'KH_SIG_INVALID', 'duplicate for digest');
  assertCode(() => verifyRequestSignature(withDigest(make(['@method', '@target-uri', 'authorization'], ';sf'), false)), 'KH_SIG_INVALID', 'component parameter');
  // Body present, content-digest covered, but the field is absent.
  const h = make(['@method', '@target-uri', 'content-digest', 'authorization']);
  assertCode(() => verifyRequestSignature(verifyInput(key, h, { hasBody: true })), 'KH_SIG_DIGEST_MISMATCH', 'no Content-Digest field');
  assert.equal(verifyRequestSignature(withDigest(h, true)).nonce, 'abcdefghijklmnop');
});

test('parameters: exactly created, expires, nonce, keyid, alg; alg must fit the key', () => {
  const key = RFC_ED25519;
  const keyid = jwkThumbprint(publicJwk(key));
  const covered: [string, string][] = [
    ['@method', 'POST'],
    ['@target-uri', URI],
    ['authorization', AUTH],
  ];
  const list = '("@method" "@target-uri" "authorization")';
  const t = NOW / 1000;
  const run = (params: string) => verifyRequestSignature(verifyInput(key, signCustom(key, list + params, covered)));
  run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`);
  run(`;alg="ed25519";keyid="${keyid}";nonce="abcdefghijklmnop";expires=${t + 1};created=${t}`); // any order
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519";tag="x"`), 'KH_SIG_INVALID', 'unknown parameter');
  assertCode(() => run(`;created=${t};expires=${t + 1};keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'no nonce');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="short";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'short nonce');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="${'a'.repeat(129)}";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'long nonce');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmn.p";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'nonce charset');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce=abcdefghijklmnop;keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'nonce as token');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";alg="ed25519"`), 'KH_SIG_INVALID', 'no keyid');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}"`), 'KH_SIG_INVALID', 'no alg');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="rsa-pss-sha512"`), 'KH_SIG_INVALID', 'unsupported alg');
  assertCode(() => run(`;created=${t};expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ecdsa-p256-sha256"`), 'KH_SIG_INVALID', 'alg of another key type');
  assertCode(() => run(`;created=${t}.5;expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'decimal created');
  assertCode(() => run(`;created=${t};expires=${t + 1};created=${t};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_INVALID', 'duplicate parameter');
  assertCode(() => run(`;expires=${t + 1};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_EXPIRED', 'no created');
  assertCode(() => run(`;created=${t};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`), 'KH_SIG_EXPIRED', 'no expires');
});

test('keyid other than the token cnf.jkt, or a bound key other than keyid: KH_SIG_KEY_MISMATCH', () => {
  const h = signed(RFC_ED25519);
  const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  assertCode(() => verifyRequestSignature(verifyInput(RFC_ED25519, h, { expectedKeyId: jwkThumbprint(other) })), 'KH_SIG_KEY_MISMATCH', 'cnf.jkt');
  assertCode(() => verifyRequestSignature(verifyInput(RFC_ED25519, h, { publicJwk: other })), 'KH_SIG_KEY_MISMATCH', 'bound key');
  // Signed by another key that claims the bound keyid: the signature fails.
  const forged = signRequest({ method: 'POST', targetUri: URI, authorization: AUTH, privateKey: generateKeyPairSync('ed25519').privateKey, now: NOW });
  const claimed = { ...forged, 'signature-input': forged['signature-input'].replace(/keyid="[^"]+"/, `keyid="${jwkThumbprint(publicJwk(RFC_ED25519))}"`) };
  assertCode(() => verifyRequestSignature(verifyInput(RFC_ED25519, claimed)), 'KH_SIG_INVALID', 'forged keyid');
});

test('time: expired, created in the future beyond 5 s, or a window over 60 s gives KH_SIG_EXPIRED', () => {
  const key = RFC_P256;
  const h = signed(key);
  verifyRequestSignature(verifyInput(key, h, { now: NOW + 60_000 })); // expires is inclusive
  assertCode(() => verifyRequestSignature(verifyInput(key, h, { now: NOW + 61_000 })), 'KH_SIG_EXPIRED', 'expired');
  verifyRequestSignature(verifyInput(key, h, { now: NOW - 5_000 })); // within skew
  assertCode(() => verifyRequestSignature(verifyInput(key, h, { now: NOW - 5_001 })), 'KH_SIG_EXPIRED', 'future created');

  const ed = RFC_ED25519;
  const keyid = jwkThumbprint(publicJwk(ed));
  const t = NOW / 1000;
  const covered: [string, string][] = [
    ['@method', 'POST'],
    ['@target-uri', URI],
    ['authorization', AUTH],
  ];
  const window = (created: number, expires: number) =>
    verifyRequestSignature(verifyInput(ed, signCustom(ed, `("@method" "@target-uri" "authorization");created=${created};expires=${expires};nonce="abcdefghijklmnop";keyid="${keyid}";alg="ed25519"`, covered)));
  assertCode(() => window(t - 1, t + 60), 'KH_SIG_EXPIRED', 'window 61 s');
  assertCode(() => window(t, t - 1), 'KH_SIG_EXPIRED', 'expires before created');
  window(t, t + 60);
});

test('a nonce is accepted once while it is valid; the same nonce under another key is independent', () => {
  const nonces = new NonceCache();
  const h = signed(RFC_ED25519, { nonce: 'the-same-nonce-1234' });
  verifyRequestSignature(verifyInput(RFC_ED25519, h, { nonces }));
  assertCode(() => verifyRequestSignature(verifyInput(RFC_ED25519, h, { nonces, now: NOW + 30_000 })), 'KH_SIG_REPLAYED');
  // After expiry the signature itself is refused, so forgetting the nonce is safe.
  assertCode(() => verifyRequestSignature(verifyInput(RFC_ED25519, h, { nonces, now: NOW + 61_000 })), 'KH_SIG_EXPIRED');
  verifyRequestSignature(verifyInput(RFC_P256, signed(RFC_P256, { nonce: 'the-same-nonce-1234' }), { nonces }));
});

test('missing Signature, Signature-Input or sig1 gives KH_SIG_MISSING', () => {
  const h = signed(RFC_ED25519);
  const good = verifyInput(RFC_ED25519, h);
  assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH, signature: h.signature } }), 'KH_SIG_MISSING');
  assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH, 'signature-input': h['signature-input'] } }), 'KH_SIG_MISSING');
  assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH } }), 'KH_SIG_MISSING');
  const relabel = (s: string) => s.replace(/^sig1=/, 'sig2=');
  assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH, 'signature-input': relabel(h['signature-input']), signature: relabel(h.signature) } }), 'KH_SIG_MISSING');
  assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH, 'signature-input': h['signature-input'], signature: relabel(h.signature) } }), 'KH_SIG_MISSING');
});

test('malformed structured fields give KH_SIG_INVALID', () => {
  const h = signed(RFC_ED25519);
  const good = verifyInput(RFC_ED25519, h);
  const si = h['signature-input'];
  const cases: [string, string, string][] = [
    ['trailing comma', `${si},`, h.signature],
    ['duplicate sig1', `${si}, ${si}`, h.signature],
    ['duplicate sig1 in Signature', si, `${h.signature}, ${h.signature}`],
    ['unclosed inner list', si.replace(');', ';'), h.signature],
    ['sig1 not an inner list', 'sig1="x"', h.signature],
    ['signature not bytes', si, 'sig1="abc"'],
    ['signature is a list', si, `sig1=(${h.signature.slice(5)})`],
    ['signature with a parameter', si, `${h.signature};x=1`],
    ['bad base64', si, 'sig1=:A!A=:'],
    ['unpadded base64', si, `sig1=:${h.signature.slice(6, -1).replace(/=+$/, '')}:`],
    ['uppercase key', si.replace('sig1=', 'SIG1='), h.signature],
    ['tab inside inner list', si.replace('" "', '"\t"'), h.signature],
    ['bad escape', si.replace('"@method"', '"@me\\thod"'), h.signature],
    ['16-digit integer', si.replace(/created=\d+/, 'created=1700000000000000'), h.signature],
    ['over 8192 characters', `${si}, x=${'a'.repeat(8200)}`, h.signature],
    ['garbage', '\u00ff\u0000', h.signature],
  ];
  for (const [what, input, signature] of cases) {
    assertCode(() => verifyRequestSignature({ ...good, headers: { authorization: AUTH, 'signature-input': input, signature } }), 'KH_SIG_INVALID', what);
  }
});

test('fast-check: random and mutated Signature/Signature-Input never throw anything but a KH_SIG_* KeyholdError', () => {
  const key = RFC_ED25519;
  const h = signed(key, { body: BODY });
  const alphabet = fc.constantFrom(...'sig1=()";:, \t*-.?0123456789abcxyzAZ/+\\'.split(''));
  const sfString = fc.string({ unit: alphabet, maxLength: 120 });
  const mutate = (s: string) =>
    fc.tuple(fc.nat(s.length), fc.nat(3), fc.string({ unit: alphabet, maxLength: 3 })).map(([at, cut, insert]) => s.slice(0, at) + insert + s.slice(at + cut));
  const field = (valid: string) => fc.oneof(fc.constant(valid), fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), sfString, mutate(valid), fc.constant(undefined));
  fc.assert(
    fc.property(field(h['signature-input']), field(h.signature), fc.boolean(), (input, signature, hasBody) => {
      const headers: Record<string, string | undefined> = { authorization: AUTH, 'content-digest': h['content-digest'], 'signature-input': input, signature };
      try {
        verifyRequestSignature(verifyInput(key, h, { headers, hasBody }));
      } catch (e) {
        assert.ok(e instanceof KeyholdError, String(e));
        assert.match(e.code, /^KH_SIG_/);
      }
    }),
    { numRuns: 3000 },
  );
});

test('signRequest refuses misuse with TypeError', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const base = { method: 'GET', targetUri: URI, authorization: AUTH, privateKey: RFC_ED25519, now: NOW };
  assert.throws(() => signRequest({ ...base, privateKey: rsa }), TypeError);
  assert.throws(() => signRequest({ ...base, privateKey: createPublicKey(RFC_ED25519) }), TypeError);
  assert.throws(() => signRequest({ ...base, alg: 'ecdsa-p256-sha256' }), TypeError);
  assert.throws(() => signRequest({ ...base, nonce: 'too-short' }), TypeError);
  assert.throws(() => signRequest({ ...base, lifetimeSeconds: 61 }), TypeError);
  assert.throws(() => signRequest({ ...base, authorization: 'Bearer x\n"@method": GET' }), TypeError);
});

// --- NonceCache -----------------------------------------------------------

test('NonceCache: bounded; when full of live nonces it refuses (fails closed), and expired ones make room', () => {
  const cache = new NonceCache({ maxEntries: 3 });
  const t = NOW;
  assert.equal(cache.seen('a', t + 10_000, t), false);
  assert.equal(cache.seen('a', t + 10_000, t), true, 'replay');
  assert.equal(cache.seen('b', t + 60_000, t), false);
  assert.equal(cache.seen('c', t + 60_000, t), false);
  assert.equal(cache.seen('d', t + 60_000, t), true, 'full: refused');
  assert.equal(cache.size, 3);
  assert.equal(cache.seen('a', t + 20_000, t + 11_000), false, 'a expired: recorded again');
  assert.equal(cache.seen('d', t + 70_000, t + 12_000), true, 'still full');
  assert.equal(cache.seen('d', t + 70_000, t + 21_000), false, 'a expired again and was swept');
  assert.equal(cache.size, 3);
  assert.equal(cache.seen('old', t - 1, t + 21_000), false, 'already expired: not recorded');
  assert.equal(cache.size, 3);
  assert.throws(() => cache.seen('far', t + 3_600_000, t), TypeError);
});

test('NonceCache: size stays bounded under a stream of distinct nonces, and old buckets are swept', () => {
  const cache = new NonceCache({ maxEntries: 1000 });
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const now = NOW + i * 10; // 100 per second, each valid 60 s: ~6000 live at most
    if (cache.seen(`n${i}`, now + 60_000, now)) refused++;
    assert.ok(cache.size <= 1000);
  }
  assert.ok(refused > 0);
  const later = NOW + 20_000 * 10 + 61_000;
  assert.equal(cache.seen('fresh', later + 60_000, later), false);
  assert.equal(cache.size, 1);
});
