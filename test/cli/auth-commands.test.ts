/**
 * `keyhold auth ...` against a real server, as a user runs it: users with
 * passwords from stdin, machine key pairs and challenge logins, key-bound
 * tokens that work only on requests signed with --signing-key (RFC 9421),
 * a password login bound to a key, whoami, certificate login and signed
 * requests over TLS, and the CLI's usage errors.
 *
 * Each CLI process costs a second or two (tsx), so independent commands run
 * in parallel waves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { runningMtlsVault, runningVault } from '../helpers/keyhold.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

test('users and machines are managed, log in, and key-bound tokens work only on signed requests', async (t) => {
  const { server, dir, rootToken } = await runningVault(t);
  const addr = { KEYHOLD_ADDR: server.apiUrl };
  const root = { ...addr, KEYHOLD_TOKEN: rootToken };
  const path = (name: string) => join(dir, name);
  const password = 'correct horse battery staple';

  // Wave 1: a user (password on stdin), two key pairs, and usage errors that need no server.
  const [created, edKeygen, p256Keygen, emptyPassword, badRevoke, rootKey] = await Promise.all([
    runCli(['auth', 'user', 'create', 'alice', '--group', 'admins', '--group', 'ops'], root, `${password}\n`),
    runCli(['auth', 'machine', 'keygen', '--out', path('ci.key')], root),
    runCli(['auth', 'machine', 'keygen', '--out', path('p256.key'), '--type', 'p256', '-f', 'json'], root),
    runCli(['auth', 'user', 'create', 'bob'], root, '\n'),
    runCli(['auth', 'revoke', '--subject', 'alice'], root),
    runCli(['key', 'create', 'existing'], root),
  ]);
  ok(rootKey, 'key create');
  ok(created, 'user create');
  assert.match(created.stdout, /^name\s+alice$/m);
  assert.match(created.stdout, /^groups\s+admins, ops$/m);
  assert.doesNotMatch(created.stdout + created.stderr, /horse/);
  for (const usage of [emptyPassword, badRevoke]) assert.equal(usage.code, 2, usage.stderr);
  assert.match(emptyPassword.stderr, /^Error KH_CLI_USAGE: the password is empty$/m);
  assert.match(badRevoke.stderr, /user:NAME or machine:NAME/);

  ok(edKeygen, 'keygen ed25519');
  assert.match(edKeygen.stdout, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
  assert.match(edKeygen.stderr, /Private key written to .*ci\.key \(mode 0600\)/);
  assert.equal(statSync(path('ci.key')).mode & 0o777, 0o600);
  const edPrivatePem = readFileSync(path('ci.key'), 'utf8');
  assert.match(edPrivatePem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(createPublicKey(edPrivatePem).export({ type: 'spki', format: 'pem' }), edKeygen.stdout, 'stdout is the public half of --out');
  writeFileSync(path('ci.pub'), edKeygen.stdout);
  ok(p256Keygen, 'keygen p256');
  const p256 = JSON.parse(p256Keygen.stdout) as { type: string; jkt: string; publicKey: string };
  assert.equal(p256.type, 'p256');
  const p256Jwk = createPublicKey(p256.publicKey).export({ format: 'jwk' });
  assert.equal(p256Jwk.crv, 'P-256');
  assert.equal(p256.jkt, await calculateJwkThumbprint(p256Jwk as JWK), 'the printed thumbprint is RFC 7638 (cross-checked with jose)');

  // Wave 2: log in, list, register the machines; keygen never overwrites a key.
  const [login, badLogin, list, ci, p256Machine, overwrite] = await Promise.all([
    runCli(['auth', 'login', '-u', 'alice'], addr, `${password}\n`),
    runCli(['auth', 'login', '-u', 'alice'], addr, 'wrong password\n'),
    runCli(['auth', 'user', 'list'], root),
    runCli(['auth', 'machine', 'create', 'ci', '--public-key', path('ci.pub'), '--group', 'admins'], root),
    // A private key file works too: only its public half is sent.
    runCli(['auth', 'machine', 'create', 'deployer', '--public-key', path('p256.key'), '--group', 'admins', '-f', 'json'], root),
    runCli(['auth', 'machine', 'keygen', '--out', path('ci.key')], root),
  ]);
  ok(login, 'login');
  const aliceToken = login.stdout.trim();
  assert.match(aliceToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'human output is the bare token');
  assert.equal(badLogin.code, 1);
  assert.match(badLogin.stderr, /^Error KH_AUTH_LOGIN_FAILED: /m);
  ok(list, 'user list');
  assert.match(list.stdout, /^NAME\s+GROUPS\s+CREATED$/m);
  assert.match(list.stdout, /^alice\s+admins,ops\s+\d{4}-/m);
  ok(ci, 'machine create');
  assert.match(ci.stdout, /^alg\s+ed25519$/m);
  ok(p256Machine, 'machine create from a private key file');
  assert.equal((JSON.parse(p256Machine.stdout) as { jkt: string }).jkt, p256.jkt);
  assert.equal(overwrite.code, 2);
  assert.match(overwrite.stderr, /refusing to overwrite/);
  assert.equal(readFileSync(path('ci.key'), 'utf8'), edPrivatePem);

  // Wave 3: alice's token works; machines log in with signed challenges.
  const alice = { ...addr, KEYHOLD_TOKEN: aliceToken };
  const [whoami, machines, showCi, ciLogin, p256Login, wrongKey] = await Promise.all([
    runCli(['auth', 'whoami', '-f', 'json'], alice),
    runCli(['auth', 'machine', 'list'], alice),
    runCli(['auth', 'machine', 'show', 'ci', '-f', 'json'], alice),
    runCli(['auth', 'machine', 'login', 'ci', '--key', path('ci.key'), '-f', 'json'], addr),
    runCli(['auth', 'machine', 'login', 'deployer', '--key', path('p256.key')], addr),
    runCli(['auth', 'machine', 'login', 'ci', '--key', path('p256.key')], addr),
  ]);
  ok(whoami, 'whoami');
  const me = JSON.parse(whoami.stdout) as { active: boolean; sub: string; amr: string[] };
  assert.deepEqual([me.active, me.sub, me.amr], [true, 'user:alice', ['pwd']]);
  ok(machines, 'machine list');
  assert.match(machines.stdout, /^ci\s+ed25519\s+[\w-]{43}\s+admins\s+\d{4}-/m);
  assert.match(machines.stdout, /^deployer\s+ecdsa-p256-sha256\s+/m);
  ok(showCi, 'machine show');
  const ciInfo = JSON.parse(showCi.stdout) as { jkt: string; publicKeyJwk: Record<string, string> };
  ok(ciLogin, 'machine login');
  const ciAnswer = JSON.parse(ciLogin.stdout) as { accessToken: string; boundTo: { jkt: string } };
  assert.equal(ciAnswer.boundTo.jkt, ciInfo.jkt);
  assert.match(ciLogin.stderr, /--signing-key .*ci\.key/);
  assert.match(ciLogin.stderr, /KEYHOLD_SIGNING_KEY=/);
  ok(p256Login, 'machine login p256');
  const p256Token = p256Login.stdout.trim();
  assert.match(p256Token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /^Error KH_AUTH_CHALLENGE_INVALID: /m);

  // Wave 4: the bound tokens only on signed requests (GET without a body, POST with one).
  const ciEnv = { ...addr, KEYHOLD_TOKEN: ciAnswer.accessToken };
  const [signedList, unsigned, signedCreate, viaEnv, otherKey, p256Whoami] = await Promise.all([
    runCli(['key', 'list', '--signing-key', path('ci.key')], ciEnv),
    runCli(['key', 'list'], ciEnv),
    runCli(['key', 'create', 'made-by-ci', '--signing-key', path('ci.key')], ciEnv),
    runCli(['key', 'create', 'made-by-deployer'], { ...addr, KEYHOLD_TOKEN: p256Token, KEYHOLD_SIGNING_KEY: path('p256.key') }),
    runCli(['key', 'list', '--signing-key', path('p256.key')], ciEnv),
    runCli(['auth', 'whoami'], { ...addr, KEYHOLD_TOKEN: p256Token, KEYHOLD_SIGNING_KEY: path('p256.key') }),
  ]);
  ok(signedList, 'signed key list');
  assert.match(signedList.stdout, /^existing\s+aes256-gcm\s+enabled\s+1$/m);
  assert.notEqual(unsigned.code, 0);
  assert.match(unsigned.stderr, /^Error KH_SIG_MISSING: /m);
  ok(signedCreate, 'signed key create (body covered by Content-Digest)');
  assert.match(signedCreate.stdout, /^name\s+made-by-ci$/m);
  ok(viaEnv, 'KEYHOLD_SIGNING_KEY, P-256');
  assert.notEqual(otherKey.code, 0);
  assert.match(otherKey.stderr, /^Error KH_SIG_KEY_MISMATCH: /m);
  ok(p256Whoami, 'whoami as a machine');
  assert.match(p256Whoami.stdout, /^sub\s+machine:deployer$/m);
  assert.match(p256Whoami.stdout, /^amr\s+swk$/m);

  // Wave 5: a password login bound to a key; password change and deletion end sessions.
  const bound = await runCli(['auth', 'login', '-u', 'alice', '--bind-key', path('ci.key'), '-f', 'json'], addr, `${password}\n`);
  ok(bound, 'login --bind-key');
  const boundAnswer = JSON.parse(bound.stdout) as { accessToken: string; boundTo: { jkt: string } };
  assert.equal(boundAnswer.boundTo.jkt, ciInfo.jkt);
  const boundEnv = { ...addr, KEYHOLD_TOKEN: boundAnswer.accessToken };
  const [boundSigned, boundUnsigned] = await Promise.all([
    runCli(['auth', 'user', 'show', 'alice', '--signing-key', path('ci.key')], boundEnv),
    runCli(['auth', 'user', 'show', 'alice'], boundEnv),
  ]);
  ok(boundSigned, 'bound user token, signed');
  assert.match(boundSigned.stdout, /^builtIn\s+false$/m);
  assert.match(boundUnsigned.stderr, /^Error KH_SIG_MISSING: /m);

  ok(await runCli(['auth', 'user', 'passwd', 'alice'], root, 'a new password 2\n'), 'passwd');
  const [oldToken, newLogin] = await Promise.all([
    runCli(['key', 'list'], alice),
    runCli(['auth', 'login', '-u', 'alice'], addr, 'a new password 2\n'),
  ]);
  assert.equal(oldToken.code, 1, 'a password change revokes the sessions');
  assert.match(oldToken.stderr, /^Error KH_AUTH_SESSION_REVOKED: /m);
  ok(newLogin, 'login with the new password');
  // After the successful login: this is the address's third failure, which locks it for a second.
  const oldPassword = await runCli(['auth', 'login', '-u', 'alice'], addr, `${password}\n`);
  assert.match(oldPassword.stderr, /^Error KH_AUTH_LOGIN_FAILED: /m);

  const [deletedUser, deletedMachine] = await Promise.all([
    runCli(['auth', 'user', 'delete', 'alice', '-f', 'json'], root),
    runCli(['auth', 'machine', 'delete', 'ci'], root),
  ]);
  ok(deletedUser, 'user delete');
  assert.equal((JSON.parse(deletedUser.stdout) as { deleted: boolean }).deleted, true);
  ok(deletedMachine, 'machine delete');
  const [gone, ciAfter] = await Promise.all([
    runCli(['auth', 'user', 'show', 'alice'], root),
    runCli(['key', 'list', '--signing-key', path('ci.key')], ciEnv),
  ]);
  assert.match(gone.stderr, /^Error KH_IDENTITY_NOT_FOUND: /m);
  assert.equal(ciAfter.code, 1);
  assert.match(ciAfter.stderr, /^Error KH_AUTH_SESSION_REVOKED: /m, 'deleting a machine revokes its sessions');
});

test('request-signing and login flags fail as usage errors before any request', async () => {
  const env = { KEYHOLD_ADDR: 'http://127.0.0.1:9', KEYHOLD_TOKEN: 'a.b.c' };
  const [missingKey, notAKey, certLogin, whoami, help] = await Promise.all([
    runCli(['key', 'list', '--signing-key', '/nonexistent/key.pem'], env),
    runCli(['key', 'list', '--signing-key', 'package.json'], env),
    runCli(['auth', 'cert-login'], env),
    runCli(['auth', 'whoami'], { KEYHOLD_ADDR: 'http://127.0.0.1:9' }),
    runCli(['--help'], { ...env, KEYHOLD_SIGNING_KEY: '/secret/path.pem' }),
  ]);
  for (const r of [missingKey, notAKey, certLogin, whoami]) assert.equal(r.code, 2, r.stderr);
  assert.match(missingKey.stderr, /^Error KH_CLI_USAGE: --signing-key: cannot read \/nonexistent\/key\.pem: ENOENT$/m);
  assert.match(notAKey.stderr, /^Error KH_CLI_USAGE: --signing-key: package\.json is not an unencrypted PEM private key$/m);
  assert.match(certLogin.stderr, /--client-cert and --client-key/);
  assert.match(whoami.stderr, /no token/);
  ok(help, 'help');
  assert.match(help.stdout, /--signing-key <file>/);
  assert.doesNotMatch(help.stdout, /a\.b\.c|secret\/path/, 'no env value in --help');
});

test('over TLS: a client certificate logs in from the CLI, and a machine signs https requests', async (t) => {
  const { server, pki, rootToken } = await runningMtlsVault(t);
  const tls = { KEYHOLD_ADDR: server.apiUrl, KEYHOLD_CACERT: pki.caCert };
  const mtls = { ...tls, KEYHOLD_CLIENT_CERT: pki.clientCert, KEYHOLD_CLIENT_KEY: pki.clientKey };

  // The certificate's CN is "operator"; a machine of that name lends it its groups.
  ok(await runCli(['auth', 'machine', 'create', 'operator', '--public-key', pki.clientKey, '--group', 'admins'], { ...tls, KEYHOLD_TOKEN: rootToken }), 'machine create');
  const [certLogin, machineLogin] = await Promise.all([
    runCli(['auth', 'cert-login', '-f', 'json'], mtls),
    runCli(['auth', 'machine', 'login', 'operator', '--key', pki.clientKey], tls),
  ]);
  ok(certLogin, 'cert-login');
  const answer = JSON.parse(certLogin.stdout) as { accessToken: string; boundTo: Record<string, string> };
  assert.match(answer.boundTo['x5t#S256'] ?? '', /^[\w-]{43}$/);
  assert.match(certLogin.stderr, /same --client-cert and --client-key/);
  ok(machineLogin, 'machine login over TLS');

  const signedEnv = { ...tls, KEYHOLD_TOKEN: machineLogin.stdout.trim(), KEYHOLD_SIGNING_KEY: pki.clientKey };
  const [withCert, withoutCert, whoami, signedCreate] = await Promise.all([
    runCli(['key', 'list'], { ...mtls, KEYHOLD_TOKEN: answer.accessToken }),
    runCli(['key', 'list'], { ...tls, KEYHOLD_TOKEN: answer.accessToken }),
    runCli(['auth', 'whoami'], { ...mtls, KEYHOLD_TOKEN: answer.accessToken }),
    runCli(['key', 'create', 'over-https'], signedEnv),
  ]);
  ok(withCert, 'cert-bound token with its certificate');
  assert.equal(withoutCert.code, 1);
  assert.match(withoutCert.stderr, /^Error KH_AUTH_CERT_MISMATCH: /m);
  ok(whoami, 'whoami');
  assert.match(whoami.stdout, /^sub\s+machine:operator$/m);
  assert.match(whoami.stdout, /^amr\s+mtls$/m);
  ok(signedCreate, 'signed https request (@target-uri https://127.0.0.1:PORT/...)');
  assert.match(signedCreate.stdout, /^name\s+over-https$/m);
});
