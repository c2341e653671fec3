/** Signed audit checkpoints: genesis, placement, signatures, what they catch that the chain alone does not, and the published key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import { entryHash, GENESIS, verifyLines } from '../../src/audit/audit-chain.js';
import { FileAuditDevice } from '../../src/audit/file-device.js';
import { checkpointMessage, checkpointVerifier, kidOf } from '../../src/audit/checkpoint.js';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { bearer, initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { appendMany, parse, pinned, readLog, rechain, rewrite, signingVault, writtenLog } from './checkpoint-fixtures.js';

const otherKey = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), privateKey };
};

test('a log starts with a signed genesis and a checkpoint follows every N entries, one by one or batched', async (t) => {
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
      entries.filter((e) => e.type === 'checkpoint').map((e) => [e.seq, e.covers, e.count, e.every]),
      [
        [1, { seq: 0, hash: GENESIS }, 0, 5],
        [7, { seq: 6, hash: entries[5]!.hash }, 5, 5],
        [13, { seq: 12, hash: entries[11]!.hash }, 5, 5],
      ],
      name,
    );
    assert.deepEqual(entries[0]!.genesis, { format: 'keyhold-audit-v2', previous: null }, name);
    assert.equal(entries.length, 15, name);
    assert.ok(entries.every((e) => typeof e.mac === 'string' && /^[0-9a-f]{64}$/.test(e.mac)), 'every entry carries its chain MAC');
  }
  const { publicKey, kid } = await v.signingKey.publicKey();
  assert.equal(kid, kidOf(new Uint8Array(createPublicKey(publicKey).export({ format: 'der', type: 'spki' }))));
  assert.equal(parse(readLog(join(v.dir, 'a.log'))[6]!).kid, kid);
});

test('checkpoint signatures verify with the node key and fail with any other', async (t) => {
  const { v, log } = await writtenLog(t, 5, 12);
  const key = await pinned(v.signingKey);
  const r = verifyLines(log, { publicKey: key });
  assert.ok(r.ok && r.count === 15 && r.checkpoints === 3 && r.verified === 3 && r.afterLastCheckpoint === 2, JSON.stringify(r));
  assert.deepEqual(r.lastCheckpoint, { seq: 13, hash: parse(log[12]!).hash, verified: true });
  // Without a key the checkpoints are checked for shape only.
  const unkeyed = verifyLines(log);
  assert.ok(unkeyed.ok && unkeyed.verified === 0 && unkeyed.checkpoints === 3);

  const other = checkpointVerifier(otherKey().pem);
  const wrong = verifyLines(log, { publicKey: other });
  assert.deepEqual(wrong.damaged.slice(0, 3).map((d) => d.line), [1, 1, 7], 'every checkpoint is reported, not only the first');
  assert.equal(wrong.damaged[0]!.reason, `checkpoint signed by another key (kid ${key.kid}, pinned ${other.kid})`);
  // Another key under the pinned kid: the signature itself fails.
  const r2 = verifyLines(log, { publicKey: { kid: key.kid, key: other.key } });
  assert.ok(!r2.ok && r2.damaged[0]!.line === 1 && /signature does not verify/.test(r2.damaged[0]!.reason));
});

test('editing a covered entry breaks the chain, and recomputing the chain then breaks the checkpoint', async (t) => {
  const { v, log } = await writtenLog(t, 5, 12);
  const publicKey = await pinned(v.signingKey);

  // A plain edit of entry 4 (v2) fails the chain at its own line.
  const edited = log.map((l, i) => (i === 3 ? l.replace('"v2"', '"v9"') : l));
  for (const options of [{}, { publicKey }]) {
    const r = verifyLines(edited, options);
    assert.deepEqual(r.damaged, [{ line: 4, reason: 'hash mismatch (edited entry)' }]);
  }

  // The attacker recomputes the chain: it verifies on its own, so the chain
  // alone cannot tell, but the checkpoint after the edit (line 7) can.
  const forged = rewrite(log, 3, (e) => (e.value = 'v9'));
  assert.ok(verifyLines(forged).ok);
  const r = verifyLines(forged, { publicKey });
  assert.ok(!r.ok && r.damaged[0]!.line === 7 && /signature does not verify/.test(r.damaged[0]!.reason), JSON.stringify(r));

  // Dropping an entry and recomputing: the same.
  const dropped = verifyLines(rechain(log.filter((_, i) => i !== 2).map(parse)), { publicKey });
  assert.ok(!dropped.ok && dropped.damaged[0]!.line === 6 && /signature does not verify/.test(dropped.damaged[0]!.reason), JSON.stringify(dropped));
});

test('a forged checkpoint line is detected when the public key is pinned', async (t) => {
  const { v, log } = await writtenLog(t, 5, 7);
  const key = await pinned(v.signingKey);
  const attacker = otherKey();
  // The attacker writes a checkpoint of their own over an edited entry, signed
  // with their key under the node's kid, and rechains everything.
  const forged = rewrite(log, 2, (e) => (e.value = 'forged'));
  const relinked = rewrite(forged, 6, (cp) => {
    cp.signature = sign(null, checkpointMessage(cp), attacker.privateKey).toString('base64url');
  });
  assert.ok(verifyLines(relinked).ok, 'the chain alone accepts it');
  const r = verifyLines(relinked, { publicKey: key });
  assert.ok(!r.ok && r.damaged[0]!.line === 7 && /signature does not verify/.test(r.damaged[0]!.reason));
  // A checkpoint that does not cover the entry before it is refused even without a key.
  const misplaced = parse(log[6]!);
  misplaced.covers = { seq: 2, hash: misplaced.prev };
  misplaced.hash = entryHash(misplaced);
  const r3 = verifyLines([...log.slice(0, 6), JSON.stringify(misplaced)]);
  assert.ok(!r3.ok && r3.damaged[0]!.line === 7 && /does not cover/.test(r3.damaged[0]!.reason));
  // Raising the cadence in a checkpoint (to hide a dropped one later) breaks its signature.
  const slower = verifyLines(rewrite(log, 6, (cp) => (cp.every = 1000)), { publicKey: key });
  assert.ok(!slower.ok && /signature does not verify/.test(slower.damaged[0]!.reason));
});

test('while sealed no checkpoint can be signed: entries past the cadence are refused, fail closed; the first batch after unseal carries it', async (t) => {
  const v = await signingVault(t);
  const { kid } = await v.signingKey.publicKey();
  const device = await v.openDevice(3);
  await appendMany(device, 1); // genesis, v0
  const held = await v.signingKey.current();
  v.barrier.seal();
  assert.equal(held?.sign(new Uint8Array(1)), undefined, 'a key held across seal refuses to sign');
  assert.equal(held?.chainKey(), undefined);
  assert.equal(await v.signingKey.current(), undefined);
  // In-flight answers while sealed are still chained and MAC'd, up to the cadence.
  await appendMany(device, 2, 1);
  await assert.rejects(device.append({ type: 'test', value: 'one too many' }), { code: 'KH_AUDIT_UNAVAILABLE' });
  await v.barrier.unseal(v.rootKey);
  await device.append({ type: 'test', value: 'after unseal' });
  await device.close();
  const entries = readLog(v.file).map(parse);
  assert.deepEqual(
    entries.map((e) => e.type),
    ['checkpoint', 'test', 'test', 'test', 'checkpoint', 'test'],
  );
  assert.deepEqual([entries[4]!.count, entries[4]!.kid], [3, kid]);
  assert.ok(verifyLines(readLog(v.file), { publicKey: await pinned(v.signingKey) }).ok);
});

test('a new log is started only once unsealed (its genesis must be signed)', async (t) => {
  const v = await signingVault(t);
  v.barrier.seal();
  const device = await v.openDevice(3);
  await assert.rejects(device.append({ type: 'test' }), { code: 'KH_AUDIT_UNAVAILABLE' });
  await v.barrier.unseal(v.rootKey);
  await device.append({ type: 'test' });
  await device.close();
  assert.deepEqual(readLog(v.file).map((l) => parse(l).type), ['checkpoint', 'test']);
});

test('reopening continues the checkpoint schedule', async (t) => {
  const v = await signingVault(t);
  let device = await v.openDevice(3);
  await appendMany(device, 3); // genesis 1, seq 2-4, checkpoint 5
  await device.close();
  device = await v.openDevice(3); // ends on a checkpoint
  await appendMany(device, 4, 3); // seq 6-8, checkpoint 9, seq 10
  await device.close();
  device = await v.openDevice(3); // ends on an entry: the schedule counts from checkpoint 9
  await appendMany(device, 3, 7); // seq 11-12, checkpoint 13, seq 14
  await device.close();
  const entries = readLog(v.file).map(parse);
  assert.deepEqual(
    entries.filter((e) => e.type === 'checkpoint').map((e) => [e.seq, e.count]),
    [
      [1, 0],
      [5, 3],
      [9, 3],
      [13, 3],
    ],
  );
  const r = verifyLines(readLog(v.file), { publicKey: await pinned(v.signingKey) });
  assert.ok(r.ok && r.verified === 4 && r.afterLastCheckpoint === 1, JSON.stringify(r));
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
  assert.ok(r.ok && r.verified === 3);

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
  // Genesis, then 3 requests and 3 responses and the public-key request: checkpoints after every 3 entries.
  assert.deepEqual(
    entries.map((e) => e.type),
    ['checkpoint', 'request', 'response', 'request', 'checkpoint', 'response', 'request', 'response', 'checkpoint', 'request', 'response'],
  );
  const r = verifyLines(readLog(file), { publicKey: checkpointVerifier(publicKey) });
  assert.ok(r.ok && r.verified === 3, JSON.stringify(r));
});
