/**
 * H2 (issue 15): a rewritten audit log never verifies with the pinned public
 * key, and the node never signs over a log it cannot verify; H1: a damaged
 * last line never stops the node from starting. Each case of the issue, as
 * an attacker with write access to the file (but no barrier key) would try it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS, verifyLines } from '../../src/audit/audit-chain.js';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';
import { bearer, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { auditedApp, metric, unsealedAuditedApp } from './audited-app.js';
import { parse, pinned, readLog, rechain, signingVault, writeLog } from './checkpoint-fixtures.js';

/** A signed log with the security-relevant entries the issue names, at known places (cadence 4). */
async function logWithDestructiveEntries(t: Pick<TestContext, 'after'>) {
  const v = await signingVault(t);
  const device = await v.openDevice(4);
  const ops = ['createKey', 'pushPolicy', 'encrypt', 'destroySecret', 'decrypt', 'listKeys', 'pushPolicy', 'readKey', 'destroySecret', 'random'];
  for (const operation of ops) await device.append({ type: 'request', operation });
  await device.close();
  return { v, log: readLog(v.file), key: await pinned(v.signingKey) };
}

const isDestructive = (line: string) => ['pushPolicy', 'destroySecret'].includes(String(parse(line).operation));

test('dropping every checkpoint and re-chaining never verifies with the public key', async (t) => {
  const { log, key } = await logWithDestructiveEntries(t);
  assert.ok(verifyLines(log, { publicKey: key }).ok);
  const fromZero = (entries: ReturnType<typeof parse>[]) => {
    entries[0]!.prev = GENESIS;
    entries[0]!.seq = 1;
    return entries;
  };
  const noCheckpoints = rechain(fromZero(log.filter((l) => parse(l).type !== 'checkpoint').map(parse)));
  // Re-chained from the genesis hash: the chain alone is happy.
  const first = parse(noCheckpoints[0]!);
  assert.ok(verifyLines(noCheckpoints).ok && first.seq === 1);
  const r = verifyLines(noCheckpoints, { publicKey: key });
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.damaged.map((d) => d.reason),
    ['the log does not start with a genesis checkpoint', 'no valid signed checkpoint in the log'],
  );
  // Keeping only the genesis: the run after it is longer than the cadence the genesis signed.
  const genesisOnly = rechain(log.filter((l, i) => i === 0 || parse(l).type !== 'checkpoint').map(parse));
  const r2 = verifyLines(genesisOnly, { publicKey: key });
  assert.ok(!r2.ok && r2.damaged.some((d) => /more than 4 entries since the last checkpoint/.test(d.reason)), JSON.stringify(r2.damaged));
});

test('deleting pushPolicy/destroySecret entries and re-chaining never verifies with the public key', async (t) => {
  const { log, key } = await logWithDestructiveEntries(t);
  const deleted = rechain(log.filter((l) => !isDestructive(l)).map(parse));
  assert.ok(verifyLines(deleted).ok, 'the chain alone accepts it');
  const r = verifyLines(deleted, { publicKey: key });
  assert.ok(!r.ok && r.damaged.every((d) => /signature does not verify/.test(d.reason)), JSON.stringify(r.damaged));
  // Deleting them and every checkpoint after them as well: the cadence gives it away.
  const firstDeleted = log.findIndex(isDestructive);
  const cut = rechain(log.filter((l, i) => i < firstDeleted || (!isDestructive(l) && parse(l).type !== 'checkpoint')).map(parse));
  const r2 = verifyLines(cut, { publicKey: key });
  assert.ok(!r2.ok, JSON.stringify(r2));
  // Deleting the last destroySecret from the unsigned tail is invisible offline (the documented limit) ...
  const tailOnly = rechain(log.filter((_, i) => i !== log.length - 2).map(parse));
  assert.ok(verifyLines(tailOnly, { publicKey: key }).ok);
  // ... but not to the node: every tail entry's chain MAC is checked before it extends the log (next test).
});

test('cutting the log at an earlier checkpoint passes alone, and fails with --expect-head', async (t) => {
  const { log, key } = await logWithDestructiveEntries(t);
  const checkpoints = log.map(parse).filter((e) => e.type === 'checkpoint');
  const seen = checkpoints.at(-1)!;
  const earlier = checkpoints.at(-2)!;
  const cut = log.slice(0, earlier.seq);
  assert.ok(verifyLines(cut, { publicKey: key }).ok);
  const r = verifyLines(cut, { publicKey: key, expectHead: { seq: seen.seq, hash: seen.hash } });
  assert.deepEqual(r.damaged, [{ line: 0, reason: `the log ends at seq ${earlier.seq}, before the expected head ${seen.seq} (it was cut)` }]);
  // Cut and then extended to the same length by the node: the entry at the seen seq differs.
  const regrown = [...cut, ...rechain([...log.slice(earlier.seq)].map(parse).map((e) => ({ ...e, note: 'regrown' })))];
  const relinked = rechain(regrown.map(parse));
  const r2 = verifyLines(relinked, { expectHead: { seq: seen.seq, hash: seen.hash } });
  assert.ok(!r2.ok && /not the expected head/.test(r2.damaged[0]!.reason));
});

async function publicKeyOf(app: KeyholdApp, rootToken: string) {
  const { publicKey } = (await app.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers: bearer(rootToken) })).json() as { publicKey: string };
  return (await import('../../src/audit/checkpoint.js')).checkpointVerifier(publicKey);
}

test('restart on a forged file: the node does not sign over it, sets it aside and starts a new log that names it', async (t) => {
  const dir = tempDir(t);
  const first = await unsealedAuditedApp(t, dir, { checkpointEvery: 4 });
  let app = first.app;
  const file = join(dir, 'audit.log');
  const { shares, rootToken } = first;
  for (const name of ['a', 'b']) await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name } });
  const key = await publicKeyOf(app, rootToken);
  await app.close();
  const original = readLog(file);
  const lastCp = original.map(parse).filter((e) => e.type === 'checkpoint').at(-1)!;
  assert.ok(lastCp.seq < original.length, 'there is an unsigned tail');
  // The attacker deletes the last request entry of the tail and re-chains: offline, it verifies.
  const tailIndex = original.findLastIndex((l) => parse(l).type === 'request');
  assert.ok(tailIndex > lastCp.seq - 1);
  const forged = rechain(original.filter((_, i) => i !== tailIndex).map(parse));
  writeLog(file, forged);
  assert.ok(verifyLines(forged, { publicKey: key }).ok, 'a forgery the public key alone cannot see');

  const second = await auditedApp(t, dir, { checkpointEvery: 4 });
  app = second.app;
  const logs = second.logLines;
  await unsealVault(app, shares);
  const r = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'd' } });
  assert.equal(r.statusCode, 200);
  // The forged file is kept, unchanged, under a new name; the node signed nothing over it.
  const aside = readdirSync(dir).filter((n) => n.startsWith('audit.log.damaged-'));
  assert.equal(aside.length, 1);
  assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), `${forged.join('\n')}\n`);
  // The new log starts with a genesis that names it, its last checkpoint and the reason.
  const fresh = readLog(file).map(parse);
  assert.equal(fresh[0]!.type, 'checkpoint');
  const previous = (fresh[0]!.genesis as { previous: Record<string, unknown> }).previous;
  assert.equal(previous.file, aside[0]);
  assert.equal(previous.code, 'KH_AUDIT_LOG_UNVERIFIABLE');
  assert.match(String(previous.reason), /mac does not verify/);
  assert.deepEqual(previous.lastCheckpoint, { seq: lastCp.seq, hash: lastCp.hash, verified: true });
  assert.ok(verifyLines(readLog(file), { publicKey: key }).ok);
  assert.deepEqual(await metric(app, 'keyhold_audit_log_damaged '), ['keyhold_audit_log_damaged 1']);
  assert.ok((await metric(app, 'keyhold_audit_log_damage_total{stage="set_aside"}')).includes('keyhold_audit_log_damage_total{stage="set_aside"} 1'));
  assert.ok(logs.some((l) => /"level":50/.test(l) && /KH_AUDIT_LOG_UNVERIFIABLE/.test(l) && /set aside/.test(l)), logs.join('\n'));
  assert.ok(logs.every((l) => !/"stack"/.test(l)), 'no stack in the log');
});

test('a damaged last line (H1): the node starts, raises the alert and metric at once, and records the damage in the new log', async (t) => {
  const dir = tempDir(t);
  const first = await unsealedAuditedApp(t, dir, { checkpointEvery: 4 });
  let app = first.app;
  const { file, shares, rootToken } = first;
  await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'a' } });
  const key = await publicKeyOf(app, rootToken);
  await app.close();
  // What the old canonicalJson wrote for a refusal audited after its socket closed.
  const lines = readLog(file);
  const last = parse(lines.at(-1)!);
  lines.push(JSON.stringify({ ...last, seq: last.seq + 1, prev: last.hash, type: 'refused' }).replace('"type":"refused"', '"type":"refused","remoteAddress":undefined'));
  writeLog(file, lines);

  const restarted = await auditedApp(t, dir, { checkpointEvery: 4 });
  app = restarted.app;
  // Started, sealed: the damage is already reported.
  assert.ok(restarted.logLines.some((l) => /"level":50/.test(l) && /KH_AUDIT_LOG_UNVERIFIABLE/.test(l) && /not JSON/.test(l)), restarted.logLines.join('\n'));
  assert.deepEqual(await metric(app, 'keyhold_audit_log_damaged '), ['keyhold_audit_log_damaged 1']);
  assert.ok(existsSync(file), 'nothing is moved before the node can sign the new genesis');
  await unsealVault(app, shares);
  const r = await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name: 'b' } });
  assert.equal(r.statusCode, 200);
  const fresh = readLog(file).map(parse);
  const previous = (fresh[0]!.genesis as { previous: Record<string, unknown> }).previous;
  assert.match(String(previous.reason), /not JSON/);
  assert.ok(verifyLines(readLog(file), { publicKey: key }).ok);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('audit.log.damaged-')).length, 1);
});

test('concurrent first writes on a damaged file: all of them land in the new log, the old file is set aside once', async (t) => {
  const v = await signingVault(t);
  let device = await v.openDevice(4);
  for (let i = 0; i < 6; i++) await device.append({ type: 'request', operation: `op${i}` });
  await device.close();
  writeLog(v.file, [...readLog(v.file), '{"seq":99,"remoteAddress":undefined}']);
  device = await v.openDevice(4);
  assert.match(device.damage?.reason ?? '', /not JSON/);
  const written = await Promise.all(Array.from({ length: 20 }, (_, i) => device.append({ type: 'request', operation: `after${i}` })));
  await device.close();
  assert.deepEqual(
    readLog(v.file).map(parse).filter((e) => e.type === 'request').map((e) => e.seq),
    written.map((e) => e.seq),
    'every append is in the new log, in order',
  );
  const aside = readdirSync(v.dir).filter((n) => n.startsWith('audit.log.damaged-'));
  assert.equal(aside.length, 1);
  assert.ok(verifyLines(readLog(v.file), { publicKey: await pinned(v.signingKey) }).ok);
});
