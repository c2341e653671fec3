/**
 * Existing Vault clients work unchanged on the transit surface:
 * - Vault's documentation calls run with the real curl binary exactly as
 *   printed (`--request POST --data @payload.json`, which sends the JSON as a
 *   form type; `--request LIST`), over plain HTTP and TLS;
 * - a JSON content type with an empty body and a body without content type
 *   are read as Vault reads them, while body limits and the depth limit hold;
 * - LIST elsewhere is a 404 in Keyhold's shape, and with
 *   listeners.api.acceptListMethod false Node refuses it as before;
 * - a cross-site "simple" request (text/plain, the token only in cookies) is
 *   refused: transit takes no ambient credential;
 * - every error on the transit surface has Vault's shape, framework errors
 *   included (fast-check over methods, content types and bodies; rate limit
 *   and KH_BUSY on real sockets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import fc from 'fast-check';
import { runningMtlsVault, runningVault } from '../../helpers/keyhold.js';
import { tempDir } from '../../helpers/temp-dir.js';

const run = promisify(execFile);

interface CurlAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The real curl binary; the answer's status and JSON body. */
async function curl(args: string[]): Promise<CurlAnswer> {
  const { stdout } = await run('curl', ['--silent', '--show-error', '--max-time', '20', '--write-out', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, cut);
  return { status: Number(stdout.slice(cut + 1)), body: text.length === 0 ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const data = (a: CurlAnswer) => a.body.data as Record<string, unknown>;

async function vaultDocCalls(t: Parameters<typeof runningVault>[0], url: string, token: string, tlsArgs: string[]): Promise<void> {
  const dir = tempDir(t);
  const payload = join(dir, 'payload.json');
  const h = ['--header', `X-Vault-Token: ${token}`, ...tlsArgs];
  // https://developer.hashicorp.com/vault/api-docs/secret/transit#create-key
  writeFileSync(payload, JSON.stringify({ type: 'aes256-gcm96' }));
  assert.equal((await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/keys/my-key`])).status, 200);
  writeFileSync(payload, JSON.stringify({ type: 'ed25519' }));
  assert.equal((await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/keys/my-signing-key`])).status, 200);
  // #list-keys
  const listed = await curl([...h, '--request', 'LIST', `${url}/v1/transit/keys`]);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual([...(data(listed).keys as string[])].sort(), ['my-key', 'my-signing-key']);
  // #encrypt-data and #decrypt-data
  writeFileSync(payload, JSON.stringify({ plaintext: Buffer.from('the quick brown fox').toString('base64') }));
  const encrypted = await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/encrypt/my-key`]);
  assert.equal(encrypted.status, 200, JSON.stringify(encrypted.body));
  writeFileSync(payload, JSON.stringify({ ciphertext: data(encrypted).ciphertext }));
  const decrypted = await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/decrypt/my-key`]);
  assert.equal(Buffer.from(data(decrypted).plaintext as string, 'base64').toString(), 'the quick brown fox');
  // #rotate-key: a POST with no body at all, and one declaring JSON with an empty body.
  assert.equal(data(await curl([...h, '--request', 'POST', `${url}/v1/transit/keys/my-key/rotate`])).latest_version, 2);
  const rotated = await curl([...h, '--request', 'POST', '--header', 'Content-Type: application/json', `${url}/v1/transit/keys/my-key/rotate`]);
  assert.equal(data(rotated).latest_version, 3);
  // #generate-random-bytes with a form body (Vault reads forms too)
  const random = await curl([...h, '--request', 'POST', '--data', 'format=hex', `${url}/v1/transit/random/16`]);
  assert.match(data(random).random_bytes as string, /^[0-9a-f]{32}$/);
  // #sign-data / #verify-signed-data: hvac and the docs send `name` as well, which Vault ignores.
  writeFileSync(payload, JSON.stringify({ input: Buffer.from('hello').toString('base64') }));
  const signed = await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/sign/my-signing-key`]);
  writeFileSync(payload, JSON.stringify({ name: 'my-signing-key', input: Buffer.from('hello').toString('base64'), signature: data(signed).signature }));
  const verified = await curl([...h, '--request', 'POST', '--data', `@${payload}`, `${url}/v1/transit/verify/my-signing-key`]);
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  assert.equal(data(verified).valid, true);
  // LIST on a transit path that cannot be listed: Vault's 405.
  const notListable = await curl([...h, '--request', 'LIST', `${url}/v1/transit/keys/my-key`]);
  assert.equal(notListable.status, 405);
  assert.deepEqual(notListable.body, { errors: ['unsupported operation'] });
  // LIST elsewhere: Keyhold's own 404, in Keyhold's shape.
  const elsewhere = await curl([...h, '--request', 'LIST', `${url}/v1/keys`]);
  assert.equal(elsewhere.status, 404);
  assert.equal((elsewhere.body.error as { code: string }).code, 'KH_NOT_FOUND');
  assert.match((elsewhere.body.error as { message: string }).message, /LIST \/v1\/keys/);
}

test('Vault documentation curl calls run as printed over plain HTTP (POST --data @payload.json, LIST, empty bodies, forms)', async (t) => {
  const { server, rootToken } = await runningVault(t);
  await vaultDocCalls(t, server.apiUrl, rootToken, []);
});

test('the same curl calls over TLS (LIST through the TLS connection wrapper)', async (t) => {
  const { server, pki, rootToken } = await runningMtlsVault(t);
  await vaultDocCalls(t, server.apiUrl.replace('127.0.0.1', 'localhost'), rootToken, ['--cacert', pki.caCert]);
});

test('bodies without a JSON content type still meet the route body limit and the depth limit', async (t) => {
  const { server, rootToken } = await runningVault(t);
  const h = { 'x-vault-token': rootToken };
  await server.api.inject({ method: 'POST', url: '/v1/transit/keys/k', headers: h });
  const deep = `${'['.repeat(100)}${']'.repeat(100)}`;
  for (const type of [undefined, 'application/x-www-form-urlencoded', 'text/plain']) {
    const headers = { ...h, ...(type === undefined ? {} : { 'content-type': type }) };
    const tooDeep = await server.api.inject({ method: 'POST', url: '/v1/transit/encrypt/k', headers, payload: `{"batch_input":${deep}}` });
    assert.equal(tooDeep.statusCode, 400, String(type));
    assert.deepEqual(Object.keys(tooDeep.json() as object), ['errors']);
    const tooLarge = await server.api.inject({ method: 'POST', url: '/v1/transit/random', headers, payload: `{"format":"${'a'.repeat(100_000)}"}` });
    assert.equal(tooLarge.statusCode, 413, String(type));
    assert.deepEqual(Object.keys(tooLarge.json() as object), ['errors']);
  }
  // The rest of the API keeps its strict JSON: no content type, no JSON.
  const strict = await server.api.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${rootToken}`, 'content-type': 'application/octet-stream' }, payload: '{}' });
  assert.equal(strict.statusCode, 415);
});

test('listeners.api.acceptListMethod false: Node refuses LIST as before (and nothing wraps the connections)', async (t) => {
  const { server, rootToken } = await runningVault(t, { listeners: { api: { port: 0, acceptListMethod: false }, health: { port: 0 } } });
  const answer = await run('curl', ['--silent', '--output', '/dev/null', '--write-out', '%{http_code}', '--header', `X-Vault-Token: ${rootToken}`, '--request', 'LIST', `${server.apiUrl}/v1/transit/keys`]);
  assert.equal(answer.stdout, '400');
});

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'LIST', 'OPTIONS'];
const PATHS = ['/v1/transit/keys', '/v1/transit/keys/k', '/v1/transit/keys/k/rotate', '/v1/transit/encrypt/k', '/v1/transit/decrypt/k', '/v1/transit/verify/k', '/v1/transit/random/8', '/v1/transit/nope', '/v1/transit/keys/k/nope', '/v1/transit/hash/sha2-256', '/v1/transit/%zz', `/v1/transit/keys/${'x'.repeat(300)}`];
const CONTENT_TYPES = [undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream', 'a/b; ;=', ''];
const BODIES = ['', '   ', '{', '{"plaintext":', '[]', 'null', '{"plaintext":"aGk="}', 'plaintext=aGk%3D', `{"input":"${'a'.repeat(70_000)}"}`, `${'['.repeat(50)}${']'.repeat(50)}`, '{"__proto__":{"x":1}}', '{"batch_input":[{"plaintext":1}]}', '\u0000\u00ff'];

test('every answer on the transit surface has Vault shape, framework errors included (fast-check over real HTTP)', async (t) => {
  const { server, rootToken } = await runningVault(t);
  await server.api.inject({ method: 'POST', url: '/v1/transit/keys/k', headers: { 'x-vault-token': rootToken } });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...METHODS),
      fc.constantFrom(...PATHS),
      fc.constantFrom(...CONTENT_TYPES),
      fc.option(fc.constantFrom(...BODIES), { nil: undefined }),
      fc.constantFrom(rootToken, 'wrong', undefined),
      async (method, path, type, body, token) => {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (token !== undefined) headers['x-vault-token'] = token;
        const withBody = body !== undefined && method !== 'GET' && method !== 'LIST';
        const res = await fetch(`${server.apiUrl}${path}`, { method, headers, ...(withBody ? { body } : {}) });
        const text = await res.text();
        const what = `${method} ${path.slice(0, 60)} ${String(type)} ${JSON.stringify(body?.slice(0, 40))} -> ${res.status} ${text.slice(0, 200)}`;
        assert.ok(res.status < 500 || res.status === 503, what);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        // Vault answers a batch whose items failed with its envelope and per-item errors.
        const batchAnswer = res.status === 400 && Array.isArray((parsed.data as { batch_results?: unknown } | undefined)?.batch_results);
        if (res.status >= 400 && !batchAnswer) {
          assert.deepEqual(Object.keys(parsed), ['errors'], what);
          assert.ok(Array.isArray(parsed.errors) && parsed.errors.every((e) => typeof e === 'string'), what);
          assert.doesNotMatch(text, /KH_|stack|at [A-Za-z]+ \(/, what);
        } else {
          assert.ok('data' in parsed, what);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('the public rate limit and the large-body budget answer in Vault shape on transit (real sockets)', async (t) => {
  const { server, rootToken } = await runningVault(t, { limits: { publicRequests: { burst: 30, perSecond: 1 }, largeBodyBudgetBytes: 1024 * 1024 } });
  // Unknown transit paths are public (404) and so counted.
  let limited: Response | undefined;
  for (let i = 0; i < 60 && limited === undefined; i++) {
    const res = await fetch(`${server.apiUrl}/v1/transit/nope`);
    if (res.status === 429) limited = res;
    else await res.text();
  }
  assert.ok(limited !== undefined, 'rate limited');
  assert.deepEqual(Object.keys((await limited.json()) as object), ['errors']);
  assert.ok(limited.headers.get('retry-after') !== null);
  // One large body in flight holds the budget: the next large one is KH_BUSY, in Vault shape.
  await server.api.inject({ method: 'POST', url: '/v1/transit/keys/k', headers: { 'x-vault-token': rootToken } });
  const holder = connect(new URL(server.apiUrl).port as unknown as number, '127.0.0.1');
  await new Promise((r) => holder.once('connect', r));
  holder.write(`POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${rootToken}\r\nContent-Length: 1000000\r\n\r\n{"plaintext":"`);
  await new Promise((r) => setTimeout(r, 200));
  const busy = await fetch(`${server.apiUrl}/v1/transit/encrypt/k`, { method: 'POST', headers: { 'x-vault-token': rootToken }, body: `{"plaintext":"${'A'.repeat(100_000)}"}` });
  // The holder goes before the server closes, which waits for requests in flight.
  holder.destroy();
  assert.equal(busy.status, 503);
  assert.deepEqual(Object.keys((await busy.json()) as object), ['errors']);
});

test('a cross-site "simple" request (text/plain body, cookies carrying the token, no token header) is refused in Vault shape: transit has no ambient credentials', async (t) => {
  const { server, rootToken } = await runningVault(t);
  const url = `${server.apiUrl}/v1/transit/encrypt/cookie-target`;
  const body = JSON.stringify({ plaintext: Buffer.from('forged').toString('base64') });
  const headersFile = join(tempDir(t), 'headers.txt');
  // What a browser sends cross-site without a preflight: a text/plain POST with the site's cookies.
  const cookies = `X-Vault-Token=${rootToken}; token=${rootToken}; vault-token=${rootToken}; keyhold_token=${rootToken}`;
  const forged = await curl([
    '--request', 'POST', '--header', 'Content-Type: text/plain', '--header', 'Origin: https://attacker.example', '--header', `Cookie: ${cookies}`,
    '--data', body, '--dump-header', headersFile, url,
  ]);
  assert.ok(forged.status === 401 || forged.status === 403, `${forged.status} ${JSON.stringify(forged.body)}`);
  assert.deepEqual(Object.keys(forged.body), ['errors']);
  assert.ok(!JSON.stringify(forged.body).includes(rootToken));
  assert.doesNotMatch(readFileSync(headersFile, 'utf8'), /access-control-allow-(origin|credentials)/i, 'no CORS grant either');
  // The same bytes with the token in its header are a valid request: only the missing credential refused the first.
  const h = ['--header', `X-Vault-Token: ${rootToken}`];
  assert.equal((await curl([...h, '--request', 'POST', `${server.apiUrl}/v1/transit/keys/cookie-target`])).status, 200);
  assert.equal((await curl([...h, '--request', 'POST', '--header', 'Content-Type: text/plain', '--data', body, url])).status, 200);
});
