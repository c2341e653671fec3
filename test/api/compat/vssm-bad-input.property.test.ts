/**
 * Property-based bad input for the VSSM API, over real mTLS sockets: wrong
 * types, missing and unknown fields (camelCase and snake_case), broken JSON,
 * wrong content types, unknown paths, bad algorithms and key names, wrong or
 * missing administrator passwords, no or untrusted client certificates.
 * Invariants: never a 5xx; every refusal is exactly `{ "error": "<string>" }`
 * (nothing internal shown); a success never carries `error`. A test checks
 * the path table against app.routes, so a new VSSM route gets fuzzed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ADMIN_PASSWORD, b64, vssmVault } from './vssm-fixture.js';

const PATHS = [
  '/symmetric/encrypt',
  '/symmetric/decrypt',
  '/asymmetric/encrypt',
  '/asymmetric/decrypt',
  '/asymmetric/sign',
  '/asymmetric/verify',
  '/hmac/create',
  '/hmac/verify',
  '/admin/generatekey',
  '/admin/injectkey',
  '/admin/listkeys',
  '/admin/generatebackup',
  '/admin/restorebackup',
  '/admin/getlogs',
  '/admin/bootstrap',
];
const FIELDS = ['input', 'hashed', 'signature', 'hmac', 'keyName', 'key_name', 'algorithm', 'adminPassword', 'admin_password', 'keyType', 'key_type', 'keySpec', 'keySize', 'key_size', 'key', 'legacy', 'backup', 'rpcPrivateKey', 'colour'];
const KEYS = ['aes', 'legacy-aes', 'rsa', 'ec', 'ed', 'mac', 'missing', '', 'x'.repeat(300), '../etc'];
const ALGORITHMS = ['AES/GCM/NoPadding', 'AES/CBC/PKCS5Padding', 'AES/ECB/NoPadding', 'DES/CTR/NoPadding', '3DES/GCM/PKCS7Padding', 'AES/GCM', 'RSA', 'RSA-OAEP/SHA256', 'RSA-OAEP/MD5', 'SHA256withRSA', 'SHA1withECDSA', 'SHA256withRSA/PSS', 'Ed25519', 'SHA1', 'SHA512', 'ROT13', ''];

const value = fc.oneof(
  fc.constantFrom(...KEYS),
  fc.constantFrom(...ALGORITHMS),
  fc.constantFrom('SYMMETRIC', 'ASYMMETRIC', 'MAC', 'RSA', 'EC', 'DES', '3DES', 'Ed25519', 'AES'),
  fc.constantFrom(0, 8, 16, 24, 32, 48, 226, 256, 384, 2048, '32', '-1', -1, 1.5, 2 ** 60, '99999999999999999999999'),
  fc.constantFrom(b64('hello'), b64(Buffer.alloc(32, 7)), b64(Buffer.alloc(8, 1)), 'not base64!', '', 'AA', 'A', '====', ADMIN_PASSWORD, 'wrong'),
  fc.constantFrom({ version: '1', encryptionKey: 'AAAA', encryptedState: 'AAAA' }, { version: 2 }, { colour: 'x' }),
  fc.uint8Array({ maxLength: 64 }).map((b) => b64(b)),
  fc.jsonValue({ maxDepth: 2 }),
);
const message = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 });
const body = fc.oneof(
  message.map((m) => JSON.stringify(m)),
  message.map((m) => JSON.stringify({ adminPassword: ADMIN_PASSWORD, ...m })),
  fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j)),
  fc.constantFrom('', '{', 'null', '[]', '"str"', '{"input":', 'keyName=aes&algorithm=AES', '\u0000'),
  // Issue 15: bodies nested past the depth limit (refused before parsing) and bodies past the route limit.
  fc.integer({ min: 33, max: 3_000 }).map((n) => `{"keyName":"aes","input":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc.integer({ min: 64 * 1024, max: 2 * 1024 * 1024 }).map((n) => JSON.stringify({ keyName: 'aes', algorithm: 'AES/GCM/NoPadding', input: 'A'.repeat(n) })),
);
const path = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...PATHS) }, { weight: 1, arbitrary: fc.constantFrom('/admin/frobnicate', '/symmetric', '/', '/hmac/create/extra', '/healthcheck', '/admin/bootstrap%') });
const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', 'application/octet-stream');
const identity = fc.constantFrom<'client' | 'none' | 'rogue'>('client', 'client', 'client', 'none', 'rogue');

test('the fuzzed path table lists every VSSM route', async (t) => {
  const v = await vssmVault(t);
  await v.server.api.ready();
  assert.deepEqual(v.server.routes.filter((r) => r.url.startsWith('/REST/v1')).map((r) => `${r.method} ${r.url}`).sort(), PATHS.map((p) => `POST /REST/v1${p}`).sort());
});

test('bad input to the VSSM API is never a 5xx and always answers { "error": "..." }', async (t) => {
  const v = await vssmVault(t);
  for (const [keyName, extra] of [
    ['aes', { keyType: 'SYMMETRIC', keySize: 32 }],
    ['legacy-aes', { keyType: 'SYMMETRIC', keySize: 16, legacy: true }],
    ['rsa', { keyType: 'ASYMMETRIC', keySpec: 'RSA', keySize: 2048, legacy: true }],
    ['ec', { keyType: 'ASYMMETRIC', keySpec: 'EC', keySize: 256 }],
    ['ed', { keyType: 'ASYMMETRIC', keySpec: 'Ed25519' }],
    ['mac', { keyType: 'MAC', keySize: 32 }],
  ] as const) {
    const res = await v.admin('generatekey', { keyName, ...extra });
    assert.equal(res.status, 200, res.text);
  }
  // One keep-alive agent per identity: handshakes would dominate otherwise.
  const ca = readFileSync(v.pki.caCert);
  const agents = {
    client: new https.Agent({ keepAlive: true, ca, cert: readFileSync(v.pki.clientCert), key: readFileSync(v.pki.clientKey) }),
    rogue: new https.Agent({ keepAlive: true, ca, cert: readFileSync(v.pki.rogueCert), key: readFileSync(v.pki.rogueKey) }),
    none: new https.Agent({ keepAlive: true, ca }),
  };
  t.after(() => Object.values(agents).forEach((a) => a.destroy()));
  const send = (p: string, payload: string, type: string, as: keyof typeof agents) =>
    new Promise<{ status: number; text: string }>((ok, fail) => {
      const req = https.request(`${v.server.apiUrl}/REST/v1${p}`, { method: 'POST', agent: agents[as], headers: { 'content-type': type, 'content-length': Buffer.byteLength(payload) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', fail);
      req.end(payload);
    });

  const seen = new Map<number, number>();
  // 300 runs in three named steps of 100 (each under the suite's step time), the valid examples in the first.
  for (const part of [1, 2, 3]) {
    await t.test(`100 random requests (part ${part} of 3)`, () =>
      fc.assert(
        fc.asyncProperty(path, body, contentType, identity, async (p, payload, type, as) => {
          const res = await send(p, payload, type, as);
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          assert.ok(res.status < 500, `${p} ${payload} -> ${res.status} ${res.text}`);
          let json: unknown;
          try {
            json = JSON.parse(res.text);
          } catch {
            assert.fail(`${p} ${payload}: not JSON: ${res.text}`);
          }
          assert.ok(typeof json === 'object' && json !== null && !Array.isArray(json), res.text);
          if (res.status >= 400) {
            assert.deepEqual(Object.keys(json), ['error'], res.text);
            const error = (json as { error: unknown }).error;
            assert.equal(typeof error, 'string');
            assert.doesNotMatch(String(error), /\bat \S+ \(|node_modules|KeyholdError|TypeError|undefined/, 'nothing internal in the message');
          } else {
            assert.equal(res.status, 200);
            assert.ok(!('error' in json), res.text);
          }
          if (as !== 'client') assert.equal(res.status, p.startsWith('/') && PATHS.includes(p) ? 401 : res.status, `${p} without a trusted certificate`);
        }),
        {
          numRuns: 100,
          // Valid requests among the random ones, so the run always shows the property holds on the success path too.
          examples:
            part === 1
              ? [
                  ['/symmetric/encrypt', JSON.stringify({ input: 'aGVsbG8=', keyName: 'aes', algorithm: 'AES/GCM/NoPadding' }), 'application/json', 'client'],
                  ['/hmac/create', JSON.stringify({ input: 'aGVsbG8=', keyName: 'mac', algorithm: 'SHA256' }), 'application/x-www-form-urlencoded', 'client'],
                  ['/asymmetric/sign', JSON.stringify({ input: 'aGVsbG8=', keyName: 'ec', algorithm: 'SHA256withECDSA' }), 'text/plain', 'client'],
                ]
              : [],
        },
      ),
    );
  }
  // The inputs reach the operations, not only the gates: some succeed, most are refused for what they say.
  assert.ok((seen.get(200) ?? 0) > 0 && (seen.get(400) ?? 0) > 0 && (seen.get(401) ?? 0) > 0, JSON.stringify([...seen]));
});
