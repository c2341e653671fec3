/**
 * A TLS server the CLI does not trust is reported as a trust problem naming
 * the TLS error and --ca-cert / KEYHOLD_CACERT (or, for a host name the
 * certificate does not list, the address), not as "cannot reach". Real TLS:
 * a node:https server with certificates made by openssl.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makePki } from '../helpers/pki.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A self-signed P-256 certificate (its own CA) for the given subjectAltName. */
function selfSigned(dir: string, name: string, san: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'pipe' });
  return { cert, key };
}

/** An HTTPS server answering seal-status as an unsealed Keyhold would. */
async function tlsServer(t: TestContext, cert: string, key: string): Promise<string> {
  const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ initialized: true, sealed: false }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function trustProblem(r: { code: number | null; stderr: string }, tlsCode: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^Error KH_CLI_TLS_UNTRUSTED: /);
  assert.ok(r.stderr.includes(tlsCode), r.stderr);
  assert.ok(!r.stderr.includes('cannot reach'), r.stderr);
}

test('a self-signed server certificate names DEPTH_ZERO_SELF_SIGNED_CERT and --ca-cert/KEYHOLD_CACERT; trusting it with --ca-cert works', async (t) => {
  const dir = tempDir(t);
  const { cert, key } = selfSigned(dir, 'vault', 'IP:127.0.0.1,DNS:localhost');
  const address = await tlsServer(t, cert, key);
  const refused = await runCli(['operator', 'status'], { KEYHOLD_ADDR: address });
  trustProblem(refused, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.match(refused.stderr, /--ca-cert <file> or KEYHOLD_CACERT/);

  assert.equal((await runCli(['operator', 'status', '--ca-cert', cert], { KEYHOLD_ADDR: address })).code, 0, 'the flag fixes it');
  assert.equal((await runCli(['operator', 'status'], { KEYHOLD_ADDR: address, KEYHOLD_CACERT: cert })).code, 0, 'so does the env variable');
});

test('a certificate from an unknown CA names UNABLE_TO_VERIFY_LEAF_SIGNATURE; another CA given with --ca-cert is named as not the issuer', async (t) => {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const address = await tlsServer(t, pki.serverCert, pki.serverKey);
  const refused = await runCli(['operator', 'status'], { KEYHOLD_ADDR: address });
  trustProblem(refused, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  assert.match(refused.stderr, /--ca-cert <file> or KEYHOLD_CACERT/);

  const other = selfSigned(dir, 'other', 'DNS:other.example');
  const wrongCa = await runCli(['operator', 'status', '--ca-cert', other.cert], { KEYHOLD_ADDR: address });
  trustProblem(wrongCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  assert.ok(wrongCa.stderr.includes(`not issued by a CA in ${other.cert}`), wrongCa.stderr);
});

test('a certificate for another host name names ERR_TLS_CERT_ALTNAME_INVALID and the address; an unreadable --ca-cert is a usage error', async (t) => {
  const dir = tempDir(t);
  const { cert, key } = selfSigned(dir, 'elsewhere', 'DNS:elsewhere.example');
  const address = await tlsServer(t, cert, key);
  const mismatch = await runCli(['operator', 'status', '--ca-cert', cert], { KEYHOLD_ADDR: address });
  trustProblem(mismatch, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.match(mismatch.stderr, /--address or KEYHOLD_ADDR/);

  const missing = await runCli(['operator', 'status', '--ca-cert', join(dir, 'nope.pem')], { KEYHOLD_ADDR: address });
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^Error KH_CLI_USAGE: --ca-cert: cannot read .*nope\.pem: ENOENT/);
});
