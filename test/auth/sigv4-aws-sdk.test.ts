/**
 * The real AWS KMS client (@aws-sdk/client-kms) over real HTTP: its requests,
 * as Node's HTTP server receives them (headers parsed by Node, the raw body),
 * authenticate with a Keyhold access key; a wrong secret, region or clock does
 * not. The server here only authenticates and answers ListKeys: the KMS API
 * itself is src/api/compat/kms/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { KeyholdError } from '../../src/errors.js';
import type { AccessKeys, SigV4Request } from '../../src/auth/access-keys.js';
import { unsealedVault } from '../helpers/keyhold.js';

async function toSigV4Request(req: IncomingMessage): Promise<SigV4Request> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return { method: req.method ?? 'GET', path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), headers: req.headers, body: new Uint8Array(Buffer.concat(chunks)) };
}

/** A minimal KMS endpoint: authenticate, then answer ListKeys, or a KMS-shaped error. */
async function kmsStub(t: Parameters<typeof unsealedVault>[0], accessKeys: AccessKeys): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const { principal } = await accessKeys.authenticate(await toSigV4Request(req), 'kms');
        seen.push(`${principal.type}:${principal.id}:${principal.groups.join(',')}`);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ Keys: [], Truncated: false }));
      } catch (e) {
        const code = e instanceof KeyholdError ? e.code : 'KH_INTERNAL';
        seen.push(code);
        res.writeHead(e instanceof KeyholdError ? e.status : 500, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: 'AccessDeniedException', message: code }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('@aws-sdk/client-kms requests authenticate with a Keyhold access key; a wrong secret or region does not', async (t) => {
  const { app } = await unsealedVault(t);
  const { users, accessKeys } = app.services;
  await users.create('orders', 'orders-password', ['app']);
  const key = await accessKeys.create({ principalType: 'User', principalName: 'orders' });
  const { url, seen } = await kmsStub(t, accessKeys);
  const client = (over: { secret?: string; region?: string; endpoint?: string } = {}) =>
    new KMSClient({
      endpoint: over.endpoint ?? url,
      region: over.region ?? 'us-east-1',
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: over.secret ?? key.secretAccessKey },
      maxAttempts: 1,
    });

  const answer = await client().send(new ListKeysCommand({ Limit: 10 }));
  assert.deepEqual(answer.Keys, []);
  // An endpoint with a path prefix: the path is part of the signature (encoded twice, as the SDK does).
  await client({ endpoint: `${url}/kms/with%20space` }).send(new ListKeysCommand({}));
  assert.deepEqual(seen, ['User:orders:app', 'User:orders:app']);

  await assert.rejects(client({ secret: `${key.secretAccessKey.slice(1)}A` }).send(new ListKeysCommand({})));
  await assert.rejects(client({ region: 'eu-west-1' }).send(new ListKeysCommand({})));
  assert.deepEqual(seen.slice(2), ['KH_SIGV4_SIGNATURE_MISMATCH', 'KH_SIGV4_SCOPE_INVALID']);
});
