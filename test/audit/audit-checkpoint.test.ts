/** Signed audit checkpoints: placement, signatures, what they catch that the chain alone does not, and the published key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { entryHash, verifyLines } from '../../src/audit/audit-chain.js';
import { FileAuditDevice } from '../../src/audit/file-device.js';
import { checkpointMessage, checkpointVerifier, kidOf } from '../../src/audit/checkpoint.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { appendMany, parse, readLog, rechain, rewrite, signingVault } from './checkpoint-fixtures.js';

const otherKey = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), privateKey };
};

test('a checkpoint follows every N entries, the same whether entries come one by one or in one batch', async (t) => {
  const v = await signingVault(t);
  const oneByOne = await v.openDevice(5, join(v.dir, 'a.log'));
  await appendMany(oneByOne, 12);
  await oneByOne.close();
  const batched = await v.openDevice(5, join(v.dir, 'b.log'));
  await Promise.all(Array.from({ length: 12 }, (_, i) => batched.append({ type: 'test', value: `v${i}` })));
  await batched.close();
  for (const name of ['a.log', 'b.log']) {
    const entries = readLog(join(v.dir, name)).map(parse);
    assert.deepEqual(
      entries.filter((e) => e.type === 'checkpoint').map((e) => [e.seq, e.covers, e.count]),
      [
        [6, { seq: 5, hash: entries[4]!.hash }, 5],
        [12, { seq: 11, hash: entries[10]!.hash }, 5],
      ],
      name,
    );
    assert.equal(entries.length, 14, name);
  }
  const { publicKey, kid } = await v.signingKey.publicKey();
  assert.equal(kid, kidOf(new Uint8Array(createPublicKey(publicKey).export({ format: 'der', type: 'spki' }))));
  assert.equal(parse(readLog(join(v.dir, 'a.log'))[5]!).kid, kid);
});

test('checkpoint signatures verify with the node key and fail with any other', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(5);
  await appendMany(device, 12);
  await device.close();
  const log = readLog(v.file);
  const pinned = checkpointVerifier((await v.signingKey.publicKey()).publicKey);
  assert.deepEqual(verifyLines(log, { publicKey: pinned }), { ok: true, count: 14, head: parse(log[13]!).hash, checkpoints: 2, verified: 2, afterLastCheckpoint: 2 });
  // Without a key the checkpoints are checked for shape only.
  assert.deepEqual(verifyLines(log), { ok: true, count: 14, head: parse(log[13]!).hash, checkpoints: 2, verified: 0, afterLastCheckpoint: 2 });

  const other = checkpointVerifier(otherKey().pem);
  assert.deepEqual(verifyLines(log, { publicKey: other }), { ok: false, count: 5, line: 6, reason: `checkpoint signed by another key (kid ${pinned.kid}, pinned ${other.kid})` });
  // Another key under the pinned kid: the signature itself fails.
  const r = verifyLines(log, { publicKey: { kid: pinned.kid, key: other.key } });
  assert.ok(!r.ok && r.line === 6 && /signature does not verify/.test(r.reason));
});

test('editing a covered entry breaks the chain, and recomputing the chain then breaks the checkpoint', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(5);
  await appendMany(device, 12);
  await device.close();
  const log = readLog(v.file);
  const publicKey = checkpointVerifier((await v.signingKey.publicKey()).publicKey);

  // A plain edit of entry 3 fails the chain at its own line.
  const edited = log.map((l, i) => (i === 2 ? l.replace('"v2"', '"v9"') : l));
  for (const options of [{}, { publicKey }]) {
    const r = verifyLines(edited, options);
    assert.ok(!r.ok && r.line === 3 && r.reason === 'hash mismatch (edited entry)');
  }

  // The attacker recomputes the chain: it verifies on its own, so the chain
  // alone cannot tell, but the checkpoint after the edit (line 6) can.
  const forged = rewrite(log, 2, (e) => (e.value = 'v9'));
  const chainOnly = verifyLines(forged);
  assert.ok(chainOnly.ok && chainOnly.verified === 0 && chainOnly.checkpoints === 2);
  const r = verifyLines(forged, { publicKey });
  assert.ok(!r.ok && r.line === 6 && /signature does not verify/.test(r.reason), JSON.stringify(r));

  // Dropping an entry and recomputing: the same.
  const dropped = verifyLines(rechain(log.filter((_, i) => i !== 1).map(parse)), { publicKey });
  assert.ok(!dropped.ok && dropped.line === 5 && /signature does not verify/.test(dropped.reason), JSON.stringify(dropped));

  // The documented limit: entries after the last checkpoint are covered only by the chain.
  const tail = verifyLines(rewrite(log, 13, (e) => (e.value = 'changed')), { publicKey });
  assert.ok(tail.ok && tail.verified === 2 && tail.afterLastCheckpoint === 2);
});

test('a forged checkpoint line is detected when the public key is pinned', async (t) => {
  const v = await signingVault(t);
  const device = await v.openDevice(5);
  await appendMany(device, 7);
  await device.close();
  const log = readLog(v.file);
  const pinned = checkpointVerifier((await v.signingKey.publicKey()).publicKey);
  const attacker = otherKey();
  // The attacker writes a checkpoint of their own over an edited entry, signed
  // with their key under the node's kid, and rechains everything.
  const forged = rewrite(log, 1, (e) => (e.value = 'forged'));
  const relinked = rewrite(forged, 5, (cp) => {
    cp.signature = sign(null, checkpointMessage(cp.covers as { seq: number; hash: string }, pinned.kid), attacker.privateKey).toString('base64url');
  });
  assert.ok(verifyLines(relinked).ok, 'the chain alone accepts it');
  const r = verifyLines(relinked, { publicKey: pinned });
  assert.ok(!r.ok && r.line === 6 && /signature does not verify/.test(r.reason));
  // Signed under the attacker's own kid, it names a key the operator did not pin.
  const own = rewrite(relinked, 5, (e) => (e.kid = checkpointVerifier(attacker.pem).kid));
  const r2 = verifyLines(own, { publicKey: pinned });
  assert.ok(!r2.ok && r2.line === 6 && /another key/.test(r2.reason));
  // A checkpoint that does not cover the entry before it is refused even without a key.
  const misplaced = parse(log[5]!);
  misplaced.covers = { seq: 2, hash: misplaced.prev };
  misplaced.hash = entryHash(misplaced);
  const r3 = verifyLines([...log.slice(0, 5), JSON.stringify(misplaced)]);
  assert.ok(!r3.ok && r3.line === 6 && /does not cover/.test(r3.reason));
});

test('while sealed no checkpoint is written; the first batch after unseal carries it, under the same key', async (t) => {
  const v = await signingVault(t);
  const { kid } = await v.signingKey.publicKey();
  const device = await v.openDevice(3);
  const held = await v.signingKey.current();
  v.barrier.seal();
  assert.equal(held?.sign(new Uint8Array(1)), undefined, 'a key held across seal refuses to sign');
  assert.equal(await v.signingKey.current(), undefined);
  await appendMany(device, 5);
  assert.ok(readLog(v.file).every((l) => parse(l).type === 'test'));
  await v.barrier.unseal(v.rootKey);
  await device.append({ type: 'test', value: 'after unseal' });
  await device.close();
  const entries = readLog(v.file).map(parse);
  assert.deepEqual(
    entries.map((e) => e.type),
    ['test', 'test', 'test', 'test', 'test', 'checkpoint', 'test'],
  );
  assert.deepEqual([entries[5]!.count, entries[5]!.kid], [5, kid]);
  assert.ok(verifyLines(readLog(v.file), { publicKey: checkpointVerifier((await v.signingKey.publicKey()).publicKey) }).ok);
});

test('reopening continues the checkpoint schedule', async (t) => {
  const v = await signingVault(t);
  let device = await v.openDevice(3);
  await appendMany(device, 3); // seq 1-3, checkpoint 4
  await device.close();
  device = await v.openDevice(3); // ends on a checkpoint: the schedule continues from it
  await appendMany(device, 4, 3); // seq 5-7, checkpoint 8, seq 9
  await device.close();
  device = await v.openDevice(3); // ends on an entry: the previous checkpoint is unknown, the next comes at once
  await appendMany(device, 1, 7); // checkpoint 10 (covering 9), seq 11
  await device.close();
  const entries = readLog(v.file).map(parse);
  assert.deepEqual(
    entries.filter((e) => e.type === 'checkpoint').map((e) => [e.seq, e.count]),
    [
      [4, 3],
      [8, 3],
      [10, 9],
    ],
  );
  const r = verifyLines(readLog(v.file), { publicKey: checkpointVerifier((await v.signingKey.publicKey()).publicKey) });
  assert.ok(r.ok && r.verified === 3 && r.afterLastCheckpoint === 1);
});

test('GET /v1/sys/audit/public-key publishes the key that signs checkpoints (authenticated, stable across seal)', async (t) => {
  const dir = tempDir(t);
  const config = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  const get = (headers: Record<string, string> = bearer(rootToken)) => app.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers });
  assert.equal((await get({})).statusCode, 401);
  const published = (await get()).json() as { algorithm: string; kid: string; publicKey: string };
  assert.equal(published.algorithm, 'Ed25519');
  assert.match(published.publicKey, /^-----BEGIN PUBLIC KEY-----\n/);
  assert.equal(checkpointVerifier(published.publicKey).kid, published.kid);

  // A device signing with the app's key produces checkpoints the published key verifies.
  const file = join(dir, 'audit.log');
  const device = await FileAuditDevice.open(file, { checkpoints: { every: 2, signer: app.services.audit.signingKey } });
  await appendMany(device, 4);
  await device.close();
  const r = verifyLines(readLog(file), { publicKey: checkpointVerifier(published.publicKey) });
  assert.ok(r.ok && r.verified === 2);

  await app.api.inject({ method: 'POST', url: '/v1/sys/seal', headers: bearer(rootToken) });
  await unsealVault(app, shares);
  assert.deepEqual((await get()).json(), published, 'the key survives seal and unseal');
});

test('the server checkpoints its audit log every audit.checkpointEvery entries, verifiable with the published key', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'audit.log');
  const config = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level: 'silent' }, audit: { file, checkpointEvery: 3 } });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  for (const name of ['a', 'b', 'c']) await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name } });
  const { publicKey } = (await app.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers: bearer(rootToken) })).json() as { publicKey: string };
  const entries = readLog(file).map(parse);
  // 3 requests and 3 responses, then the public-key request: checkpoints after entries 3 and 6.
  assert.deepEqual(
    entries.map((e) => e.type),
    ['request', 'response', 'request', 'checkpoint', 'response', 'request', 'response', 'checkpoint', 'request', 'response'],
  );
  const r = verifyLines(readLog(file), { publicKey: checkpointVerifier(publicKey) });
  assert.ok(r.ok && r.verified === 2, JSON.stringify(r));
});
