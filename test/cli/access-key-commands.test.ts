/**
 * `keyhold auth access-key create|list|delete` against a real server: the id
 * and secret are printed once with an AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * example, the printed key verifies SigV4 requests signed by the AWS SDK
 * signer, list never shows secrets, and usage errors need no server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runningVault } from '../helpers/keyhold.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { signWithSdk } from '../helpers/sigv4.js';
import { KeyholdError } from '../../src/errors.js';

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

test('access keys are created for users and machines, listed without secrets, and deleted', async (t) => {
  const { server, rootToken } = await runningVault(t);
  const root = { KEYHOLD_ADDR: server.apiUrl, KEYHOLD_TOKEN: rootToken };
  await server.services.users.create('alice', 'alice-password', ['app']);
  const { generateKeyPairSync } = await import('node:crypto');
  await server.services.machines.create('ci', generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(), []);

  const [forUser, forMachine, both, neither, badId, ghost] = await Promise.all([
    runCli(['auth', 'access-key', 'create', '--user', 'alice', '--description', 'orders service'], root),
    runCli(['auth', 'access-key', 'create', '--machine', 'ci', '-f', 'json'], root),
    runCli(['auth', 'access-key', 'create', '--user', 'alice', '--machine', 'ci'], root),
    runCli(['auth', 'access-key', 'create'], root),
    runCli(['auth', 'access-key', 'delete', 'AKIAIOSFODNN7EXAMPLE'], root),
    runCli(['auth', 'access-key', 'create', '--user', 'ghost'], root),
  ]);
  ok(forUser, 'create --user');
  const id = /^accessKeyId\s+(KHAK[A-Z2-7]{16})$/m.exec(forUser.stdout)?.[1];
  const secret = /^secretAccessKey\s+([A-Za-z0-9+/]{40})$/m.exec(forUser.stdout)?.[1];
  assert.ok(id !== undefined && secret !== undefined, forUser.stdout);
  assert.match(forUser.stdout, /^principalName\s+alice$/m);
  assert.match(forUser.stderr, /shown only now/);
  assert.ok(forUser.stderr.includes(`AWS_ACCESS_KEY_ID=${id} AWS_SECRET_ACCESS_KEY='${secret}'`), forUser.stderr);
  ok(forMachine, 'create --machine -f json');
  const machineKey = JSON.parse(forMachine.stdout) as { accessKeyId: string; secretAccessKey: string; principalType: string };
  assert.equal(machineKey.principalType, 'Machine');
  assert.equal(forMachine.stderr, '', 'no hint in JSON mode');
  for (const usage of [both, neither, badId]) {
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /^Error KH_CLI_USAGE: /m);
  }
  assert.equal(ghost.code, 1);
  assert.match(ghost.stderr, /^Error KH_IDENTITY_NOT_FOUND: /m);

  // The printed key is a working AWS credential for the server's region.
  const request = await signWithSdk({ accessKeyId: id, secretAccessKey: secret, region: 'us-east-1', service: 'kms', date: new Date(), headers: { 'x-amz-target': 'TrentService.ListKeys' }, body: new TextEncoder().encode('{}') });
  assert.equal((await server.services.accessKeys.authenticate(request, 'kms')).principal.id, 'alice');

  const [list, listJson] = await Promise.all([runCli(['auth', 'access-key', 'list'], root), runCli(['auth', 'access-key', 'list', '-f', 'json'], root)]);
  ok(list, 'list');
  assert.match(list.stdout, /^ACCESS KEY ID\s+ACTS AS\s+CREATED\s+LAST USED\s+DESCRIPTION$/m);
  assert.match(list.stdout, new RegExp(`^${id}\\s+user:alice\\s+\\d{4}-\\S+\\s+\\d{4}-\\S+\\s+orders service$`, 'm'));
  assert.match(list.stdout, new RegExp(`^${machineKey.accessKeyId}\\s+machine:ci\\s+\\d{4}-\\S+\\s+-$`, 'm'));
  ok(listJson, 'list -f json');
  assert.equal((JSON.parse(listJson.stdout) as { accessKeys: unknown[] }).accessKeys.length, 2);
  for (const out of [list.stdout, listJson.stdout]) assert.ok(!out.includes(secret) && !out.includes(machineKey.secretAccessKey), 'no secret in a listing');

  const deleted = await runCli(['auth', 'access-key', 'delete', id], root);
  ok(deleted, 'delete');
  assert.match(deleted.stdout, /^deleted\s+true$/m);
  await assert.rejects(server.services.accessKeys.authenticate(request, 'kms'), (e: unknown) => e instanceof KeyholdError && e.code === 'KH_SIGV4_UNKNOWN_ACCESS_KEY');
  const again = await runCli(['auth', 'access-key', 'delete', id], root);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^Error KH_ACCESS_KEY_NOT_FOUND: /m);
});
