/**
 * `keyhold key ...` against a real server, as a user runs it: create, list,
 * show, encrypt/decrypt (text and binary, through pipes), context mismatch,
 * Ed25519 sign/verify with the public key checked by node:crypto and openssl,
 * rotation, deletion, usage errors, and no key material in any output.
 *
 * Commands run in this process (runCliRaw); the pipelines run the real
 * binary under bash, so bytes through real pipes are covered too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runningVault } from '../helpers/keyhold.js';
import { CLI_ARGS, runCliRaw, spawnRaw, type RawRun } from '../helpers/cli.js';

type Run = RawRun;

const text = (r: Run) => r.stdout.toString('utf8');

test('keys are created, listed, used for encryption and signatures, rotated and deleted from the CLI', async (t) => {
  const { server, dir, rootToken } = await runningVault(t);

  const env = { KEYHOLD_ADDR: server.apiUrl, KEYHOLD_TOKEN: rootToken, DIR: dir, KH_NODE: process.execPath };
  const runs: Run[] = [];
  const record = async (p: Promise<Run>) => {
    const r = await p;
    runs.push(r);
    return r;
  };
  const kh = (args: string[], input?: Buffer) => record(runCliRaw(args, env, input));
  /** A bash script with `kh` as the CLI; pipes run their processes concurrently. */
  const sh = (script: string) => record(spawnRaw('bash', ['-c', `set -euo pipefail\nkh() { "$KH_NODE" ${CLI_ARGS.join(' ')} "$@"; }\n${script}`], env));
  const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

  const message = 'release 1.2.3';
  const binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);
  writeFileSync(join(dir, 'bin.in'), binary);

  // Wave 1: create the keys; usage errors need no server.
  const [created, signer, badTag, badContext] = await Promise.all([
    kh(['key', 'create', 'app', '--description', 'App data', '--tag', 'env=prod', '--tag', 'team=core']),
    kh(['key', 'create', 'signer', '--type', 'ed25519', '--format', 'json']),
    kh(['key', 'create', 'never', '--tag', 'no-equals-sign']),
    kh(['key', 'encrypt', 'app', 'x', '--context', 'no-equals-sign']),
  ]);
  ok(created, 'create');
  assert.match(text(created), /^name\s+app$/m);
  assert.match(text(created), /^tags\s+env=prod, team=core$/m);
  assert.match(text(created), /^exportable\s+false$/m);
  ok(signer, 'create ed25519');
  assert.equal(JSON.parse(text(signer)).type, 'ed25519');
  for (const usage of [badTag, badContext]) {
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /expected --(tag|context) key=value/);
  }

  // Wave 2: list, show, text and binary round trips through pipes, sign, public key.
  const [list, show, textTrip, binTrip, signed, pem] = await Promise.all([
    kh(['key', 'list']),
    kh(['key', 'show', 'app', '-f', 'json']),
    sh(`kh key encrypt app 'héllo wörld' --context user=42 --aad hdr | tee "$DIR/text.ct" | kh key decrypt app --context user=42 --aad hdr`),
    sh(`kh key encrypt app < "$DIR/bin.in" | tee "$DIR/bin.ct" | kh key decrypt app > "$DIR/bin.out"`),
    kh(['key', 'sign', 'signer', message]),
    kh(['key', 'public-key', 'signer']),
  ]);
  ok(list, 'list');
  assert.match(text(list), /^NAME\s+TYPE\s+STATE\s+VERSION\s+DESCRIPTION$/m);
  assert.match(text(list), /^app\s+aes256-gcm\s+enabled\s+1\s+App data$/m);
  assert.match(text(list), /^signer\s+ed25519\s+enabled\s+1$/m);
  ok(show, 'show');
  const meta = JSON.parse(text(show)) as { name: string; tags: Record<string, string>; description: string; latestVersion: number };
  assert.deepEqual([meta.name, meta.description, meta.tags, meta.latestVersion], ['app', 'App data', { env: 'prod', team: 'core' }, 1]);
  ok(textTrip, 'text round trip');
  assert.equal(text(textTrip), 'héllo wörld');
  const textCt = readFileSync(join(dir, 'text.ct'), 'utf8').trim();
  assert.match(textCt, /^keyhold:v1:[A-Za-z0-9+/]+=*$/);
  ok(binTrip, 'binary round trip');
  assert.ok(readFileSync(join(dir, 'bin.out')).equals(binary), 'binary plaintext round-trips byte for byte');
  ok(signed, 'sign');
  const signature = text(signed).trim();
  assert.match(signature, /^keyhold:v1:[A-Za-z0-9+/]+=*$/);
  ok(pem, 'public-key');
  assert.match(text(pem), /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);

  // The PEM is a usable Ed25519 key for node:crypto and openssl, and checks the signature.
  const pemFile = join(dir, 'signer.pem');
  writeFileSync(pemFile, pem.stdout);
  const sigBytes = Buffer.from(signature.split(':')[2]!, 'base64');
  const publicKey = createPublicKey(text(pem));
  assert.equal(publicKey.asymmetricKeyType, 'ed25519');
  assert.ok(verify(null, Buffer.from(message), publicKey, sigBytes), 'node:crypto verifies the signature');
  assert.ok(!verify(null, Buffer.from(`${message}!`), publicKey, sigBytes));
  execFileSync('openssl', ['pkey', '-pubin', '-in', pemFile, '-noout'], { stdio: 'pipe' });
  writeFileSync(join(dir, 'msg'), message);
  writeFileSync(join(dir, 'sig'), sigBytes);
  const opensslVerify = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pemFile, '-rawin', '-in', join(dir, 'msg'), '-sigfile', join(dir, 'sig')], { stdio: 'pipe' });
  assert.match(opensslVerify.toString(), /Signature Verified Successfully/);

  // Wave 3: wrong context, verify (valid; tampered message from stdin), rotate.
  const [mismatch, valid, tampered, rotated] = await Promise.all([
    kh(['key', 'decrypt', 'app', textCt, '--context', 'user=43', '--aad', 'hdr']),
    kh(['key', 'verify', 'signer', signature, message]),
    kh(['key', 'verify', 'signer', signature], Buffer.from(`${message}!`)),
    kh(['key', 'rotate', 'app', '-f', 'json']),
  ]);
  assert.equal(mismatch.code, 1);
  assert.equal(mismatch.stderr, 'Error KH_DECRYPT_FAILED: decryption failed\n');
  assert.equal(mismatch.stdout.length, 0);
  assert.deepEqual([valid.code, text(valid)], [0, 'valid\n'], valid.stderr);
  assert.deepEqual([tampered.code, text(tampered)], [1, 'invalid\n'], tampered.stderr);
  ok(rotated, 'rotate');
  assert.equal(JSON.parse(text(rotated)).latestVersion, 2);

  // Wave 4: a v1 ciphertext still decrypts after rotation; deletion is scheduled.
  const [afterRotate, deleted] = await Promise.all([
    kh(['key', 'decrypt', 'app'], readFileSync(join(dir, 'bin.ct'))),
    kh(['key', 'delete', 'signer', '--waiting-days', '7']),
  ]);
  ok(afterRotate, 'decrypt after rotate');
  assert.ok(afterRotate.stdout.equals(binary));
  ok(deleted, 'delete');
  assert.match(text(deleted), /^state\s+pending-deletion$/m);
  const deletionDate = /^deletionDate\s+(\S+)$/m.exec(text(deleted))?.[1];
  const days = (Date.parse(deletionDate ?? '') - Date.now()) / 86_400_000;
  assert.ok(days > 6.9 && days <= 7, `deletion in 7 days, got ${deletionDate}`);

  // No command printed key material (both keys are non-exportable), in any encoding.
  const records = (await server.services.keys.store.all()).map((k) => k.record);
  assert.deepEqual(records.map((r) => [r.name, r.exportable]).sort(), [['app', false], ['signer', false]]);
  const secrets = records.flatMap((r) => r.versions.map((v) => Buffer.from(v.secret!, 'base64')));
  assert.equal(secrets.length, 3);
  for (const run of runs) {
    const outputs = [run.stdout, Buffer.from(run.stderr)];
    for (const secret of secrets) {
      for (const out of outputs) {
        assert.equal(out.indexOf(secret), -1, 'raw key material in CLI output');
        const s = out.toString('latin1');
        for (const form of [secret.toString('base64').replace(/=+$/, ''), secret.toString('base64url'), secret.toString('hex')]) assert.ok(!s.includes(form), 'encoded key material in CLI output');
      }
    }
  }
});
