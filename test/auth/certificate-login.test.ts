/**
 * mTLS client certificates as identities, over real TLS sockets: the
 * certificate logs in, and its tokens are bound to it (RFC 8705 x5t#S256),
 * so the same token on a connection without that certificate is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { runningMtlsVault } from '../helpers/keyhold.js';

interface Call {
  method: string;
  path: string;
  token?: string;
  body?: object;
  cert?: { cert: string; key: string };
}

test('a client certificate logs in, and its token works only with that certificate', async (t) => {
  const { server, pki } = await runningMtlsVault(t);

  const call = (c: Call) =>
    new Promise<{ status: number; json: Record<string, unknown> & { error?: { code: string } } }>((resolve, reject) => {
      const body = c.body === undefined ? undefined : JSON.stringify(c.body);
      const req = https.request(
        `${server.apiUrl}${c.path}`,
        {
          method: c.method,
          ca: readFileSync(pki.caCert),
          agent: false,
          ...(c.cert ? { cert: readFileSync(c.cert.cert), key: readFileSync(c.cert.key) } : {}),
          headers: { ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const client = { cert: pki.clientCert, key: pki.clientKey };

  const noCert = await call({ method: 'POST', path: '/v1/auth/cert/login' });
  assert.equal(noCert.json.error?.code, 'KH_AUTH_CERT_REQUIRED');
  const login = await call({ method: 'POST', path: '/v1/auth/cert/login', cert: client });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  const token = login.json.accessToken as string;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  assert.equal(claims.sub, 'machine:operator');
  assert.deepEqual(claims.amr, ['mtls']);
  assert.equal(typeof claims.cnf['x5t#S256'], 'string');

  assert.equal((await call({ method: 'POST', path: '/v1/auth/renew', token, cert: client })).status, 200);
  const stolen = await call({ method: 'POST', path: '/v1/auth/renew', token });
  assert.equal(stolen.json.error?.code, 'KH_AUTH_CERT_MISMATCH');
  // The identity has no policy yet: authenticated, but not authorised.
  assert.equal((await call({ method: 'GET', path: '/v1/keys', token, cert: client })).json.error?.code, 'KH_AUTH_PERMISSION_DENIED');
});
