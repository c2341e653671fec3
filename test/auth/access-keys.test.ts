/**
 * AWS-style access keys: issued for existing users and machines, stored only
 * encrypted, mapped at every request to the identity's current groups, and
 * refused as soon as the key or its identity is deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { AccessKeys, ACCESS_KEY_ID, CACHE_TTL_MS } from '../../src/auth/access-keys.js';
import { KeyholdError, type ErrorCode } from '../../src/errors.js';
import { unsealedVault, unsealVault } from '../helpers/keyhold.js';
import { signWithSdk } from '../helpers/sigv4.js';

const REGION = 'eu-central-1';
const BODY = new TextEncoder().encode('{"KeyId":"alias/app","Plaintext":"aGk="}');

async function setup(t: Parameters<typeof unsealedVault>[0]) {
  const vault = await unsealedVault(t);
  const { barrier, users, machines } = vault.app.services;
  let clock = new Date('2026-05-01T10:00:00Z');
  const keys = new AccessKeys(barrier, { users, machines, region: REGION, now: () => clock });
  await users.create('alice', 'alice-password-1', ['crypto-users']);
  const machinePem = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
  await machines.create('robot-1', machinePem, ['robots']);
  return {
    ...vault,
    keys,
    machinePem,
    now: () => clock,
    advance: (ms: number) => {
      clock = new Date(clock.getTime() + ms);
    },
    sign: (key: { accessKeyId: string; secretAccessKey: string }, over: { service?: string; region?: string; date?: Date } = {}) =>
      signWithSdk({
        accessKeyId: key.accessKeyId,
        secretAccessKey: key.secretAccessKey,
        region: over.region ?? REGION,
        service: over.service ?? 'kms',
        date: over.date ?? clock,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' },
        body: BODY,
      }),
  };
}

async function refused(code: ErrorCode, p: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof KeyholdError && e.code === code, `${what}: expected ${code}`);
}

test('create issues an AWS-shaped id and a 40-character secret, once; list shows no secret; delete removes the key', async (t) => {
  const { keys } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice', description: 'laptop CLI' });
  const m = await keys.create({ principalType: 'Machine', principalName: 'robot-1' });
  for (const k of [a, m]) {
    assert.match(k.accessKeyId, ACCESS_KEY_ID);
    assert.equal(k.accessKeyId.length, 20);
    assert.match(k.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
  }
  assert.notEqual(a.accessKeyId, m.accessKeyId);
  assert.deepEqual(Object.keys(a).sort(), ['accessKeyId', 'createdAt', 'description', 'principalName', 'principalType', 'secretAccessKey']);
  assert.equal(a.description, 'laptop CLI');
  assert.equal(m.description, '');

  const listed = await keys.list();
  assert.deepEqual(listed.map((k) => k.accessKeyId).sort(), [a.accessKeyId, m.accessKeyId].sort());
  assert.ok(!JSON.stringify(listed).includes(a.secretAccessKey) && !JSON.stringify(listed).includes('secret'), 'no secret in the listing');
  assert.deepEqual(listed.find((k) => k.accessKeyId === m.accessKeyId), { accessKeyId: m.accessKeyId, principalType: 'Machine', principalName: 'robot-1', description: '', createdAt: m.createdAt });

  await keys.delete(a.accessKeyId);
  assert.deepEqual((await keys.list()).map((k) => k.accessKeyId), [m.accessKeyId]);
  await refused('KH_ACCESS_KEY_NOT_FOUND', keys.delete(a.accessKeyId), 'deleted twice');
  await refused('KH_ACCESS_KEY_NOT_FOUND', keys.delete('KHAKAAAAAAAAAAAAAAAA'), 'never issued');
  await refused('KH_ACCESS_KEY_NOT_FOUND', keys.delete('not an id'), 'not an id');
});

test('a key cannot be created for an identity that does not exist, or with a bad description', async (t) => {
  const { keys } = await setup(t);
  await refused('KH_IDENTITY_NOT_FOUND', keys.create({ principalType: 'User', principalName: 'nobody' }), 'unknown user');
  await refused('KH_IDENTITY_NOT_FOUND', keys.create({ principalType: 'Machine', principalName: 'alice' }), 'a user is not a machine');
  await refused('KH_IDENTITY_NOT_FOUND', keys.create({ principalType: 'User', principalName: 'root' }), 'the root token is no user');
  await refused('KH_IDENTITY_NOT_FOUND', keys.create({ principalType: 'User', principalName: '../x' }), 'not a name');
  await refused('KH_INPUT_INVALID', keys.create({ principalType: 'User', principalName: 'alice', description: 'x'.repeat(257) }), 'long description');
  await refused('KH_INPUT_INVALID', keys.create({ principalType: 'User', principalName: 'alice', description: 'evil\u001b[2J' }), 'control characters');
  assert.deepEqual(await keys.list(), []);
});

test('a signed request authenticates as the identity, with its groups, amr sigv4 and no mfa', async (t) => {
  const { keys, sign } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  const m = await keys.create({ principalType: 'Machine', principalName: 'robot-1' });
  const asAlice = await keys.authenticate(await sign(a), 'kms');
  assert.deepEqual(asAlice, { principal: { type: 'User', id: 'alice', groups: ['crypto-users'], amr: ['sigv4'] }, accessKeyId: a.accessKeyId, region: REGION });
  assert.equal(asAlice.principal.amr.includes('mfa'), false);
  const asRobot = await keys.authenticate(await sign(m), 'kms');
  assert.deepEqual(asRobot.principal, { type: 'Machine', id: 'robot-1', groups: ['robots'], amr: ['sigv4'] });
});

test('refusals: unknown key, wrong secret, other service or region, clock skew', async (t) => {
  const { keys, sign, now } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign({ ...a, accessKeyId: 'KHAKAAAAAAAAAAAAAAAA' }), 'kms'), 'unknown id');
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign({ ...a, accessKeyId: 'AKIDEXAMPLE' }), 'kms'), 'foreign id');
  await refused('KH_SIGV4_SIGNATURE_MISMATCH', keys.authenticate(await sign({ ...a, secretAccessKey: `${a.secretAccessKey.slice(1)}A` }), 'kms'), 'wrong secret');
  await refused('KH_SIGV4_SCOPE_INVALID', keys.authenticate(await sign(a, { service: 's3' }), 'kms'), 'other service');
  await refused('KH_SIGV4_SCOPE_INVALID', keys.authenticate(await sign(a), 'sts'), 'endpoint of another service');
  await refused('KH_SIGV4_SCOPE_INVALID', keys.authenticate(await sign(a, { region: 'us-east-1' }), 'kms'), 'other region');
  await refused('KH_SIGV4_EXPIRED', keys.authenticate(await sign(a, { date: new Date(now().getTime() - 301_000) }), 'kms'), 'old');
  await refused('KH_SIGV4_EXPIRED', keys.authenticate(await sign(a, { date: new Date(now().getTime() + 301_000) }), 'kms'), 'future');
  await refused('KH_SIGV4_MISSING', keys.authenticate({ method: 'POST', path: '/', query: '', headers: { host: 'x' }, body: BODY }, 'kms'), 'unsigned');
});

test('a deleted key is refused on the very next request, although it was cached', async (t) => {
  const { keys, sign } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  const request = await sign(a);
  await keys.authenticate(request, 'kms');
  await keys.authenticate(request, 'kms');
  await keys.delete(a.accessKeyId);
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(request, 'kms'), 'after delete');
});

test('groups are read again within CACHE_TTL_MS; a deleted identity, or one re-created under the same name, is refused', async (t) => {
  const { app, keys, sign, machinePem, advance } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  const m = await keys.create({ principalType: 'Machine', principalName: 'robot-1' });
  assert.deepEqual((await keys.authenticate(await sign(a), 'kms')).principal.groups, ['crypto-users']);

  // The user's groups change in its stored record (as an identity update would write it).
  const users = app.services.barrier.view('auth/users/');
  const path = users.indexPath('user', 'alice');
  const record = JSON.parse(new TextDecoder().decode(await users.get(path))) as { groups: string[] };
  await users.put(path, new TextEncoder().encode(JSON.stringify({ ...record, groups: ['admins', 'crypto-users'] })));
  // Read again once the cached entry is older than CACHE_TTL_MS (the bound other nodes have anyway); deletion below is immediate.
  advance(CACHE_TTL_MS + 1);
  assert.deepEqual((await keys.authenticate(await sign(a), 'kms')).principal.groups, ['admins', 'crypto-users']);

  await app.services.users.delete('alice');
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign(a), 'kms'), 'deleted user');
  await app.services.users.create('alice', 'another-password', ['admins']);
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign(a), 'kms'), 're-created user');

  await app.services.machines.delete('robot-1');
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign(m), 'kms'), 'deleted machine');
  await app.services.machines.create('robot-1', machinePem, ['robots']);
  await refused('KH_SIGV4_UNKNOWN_ACCESS_KEY', keys.authenticate(await sign(m), 'kms'), 're-created machine');
});

test('lastUsedAt is recorded, at most once a minute', async (t) => {
  const { keys, sign, advance, now } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  assert.equal((await keys.list())[0]!.lastUsedAt, undefined);
  await keys.authenticate(await sign(a), 'kms');
  const first = now().toISOString();
  assert.equal((await keys.list())[0]!.lastUsedAt, first);
  advance(30_000);
  await keys.authenticate(await sign(a), 'kms');
  assert.equal((await keys.list())[0]!.lastUsedAt, first, 'not rewritten within a minute');
  advance(31_000);
  await keys.authenticate(await sign(a), 'kms');
  assert.equal((await keys.list())[0]!.lastUsedAt, now().toISOString());
});

test('sealing drops the cache: a sealed vault authenticates nothing, and after unsealing keys work again', async (t) => {
  const { app, keys, sign, shares } = await setup(t);
  const a = await keys.create({ principalType: 'User', principalName: 'alice' });
  await keys.authenticate(await sign(a), 'kms');
  await app.services.seal.seal();
  await refused('KH_SEALED', keys.authenticate(await sign(a), 'kms'), 'sealed');
  await unsealVault(app, shares.slice(0, 2));
  assert.equal((await keys.authenticate(await sign(a), 'kms')).principal.id, 'alice');
});

test('the database holds no secret access key, access key id or identity name in the clear', async (t) => {
  const { app, keys, sign, dbPath } = await setup(t);
  const issued = [await keys.create({ principalType: 'User', principalName: 'alice', description: 'findable-description' }), await keys.create({ principalType: 'Machine', principalName: 'robot-1' })];
  for (const k of issued) await keys.authenticate(await sign(k), 'kms');
  const needles = [...issued.flatMap((k) => [k.secretAccessKey, k.accessKeyId]), 'findable-description', 'robot-1'];
  const inFile = (file: string, s: string) => existsSync(file) && (readFileSync(file).includes(Buffer.from(s, 'utf8')) || readFileSync(file).includes(Buffer.from(s, 'utf16le')));
  for (const file of [dbPath, `${dbPath}-wal`]) for (const s of needles) assert.equal(inFile(file, s), false, `found in ${file}`);
  await app.close();
  for (const s of needles) assert.equal(inFile(dbPath, s), false, 'found after checkpoint');
});
