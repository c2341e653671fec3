/**
 * Issue 15 review, finding 5: deleting the audit log, cutting it back to an
 * earlier checkpoint, or putting another log in its place is noticed by the
 * node. It compares the file with the last durable checkpoint it recorded
 * behind the barrier (src/audit/audit-head.ts) before its first write after
 * unseal; the record is written only after the checkpoint's fdatasync, so a
 * file ahead of it (a crash in between) is accepted.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyLines, type AuditEntry } from '../../src/audit/audit-chain.js';
import { AuditHeadRecord, type AuditHead, type AuditHeadStore } from '../../src/audit/audit-head.js';
import { FileAuditDevice } from '../../src/audit/file-device.js';
import { checkpointVerifier } from '../../src/audit/checkpoint.js';
import { bearer, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { auditedApp, metric, unsealedAuditedApp } from './audited-app.js';
import { appendMany, parse, pinned, readLog, rechain, signingVault, writeLog } from './checkpoint-fixtures.js';

type Previous = { file: string; code: string; reason: string; lastCheckpoint: unknown; expectedHead?: AuditHead };
const previousOf = (file: string): Previous | null => (parse(readLog(file)[0]!).genesis as { previous: Previous | null }).previous;
const checkpoints = (lines: string[]): AuditEntry[] => lines.map(parse).filter((e) => e.type === 'checkpoint');
/** (A function, so an earlier `assert.equal(device.damage, undefined)` does not narrow later reads.) */
const damageOf = (device: FileAuditDevice) => device.damage;
const setAside = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('audit.log.damaged-'));

/** A vault and a device factory whose devices record their head in the vault's barrier. */
async function recordingVault(t: Pick<TestContext, 'after'>) {
  const v = await signingVault(t);
  const head = new AuditHeadRecord(v.barrier);
  const openDevice = (every: number, store: AuditHeadStore = head) => FileAuditDevice.open(v.file, { checkpoints: { every, signer: v.signingKey }, head: store });
  return { ...v, head, openDevice };
}

test('a deleted audit log is damage, not a first start: alert, metrics, and a new genesis that records the expected head (probe4)', async (t) => {
  const dir = tempDir(t);
  const first = await unsealedAuditedApp(t, dir, { checkpointEvery: 4 });
  let app = first.app;
  const { file, shares, rootToken } = first;
  for (const name of ['k1', 'k2', 'k3']) await app.api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(rootToken), payload: { name, type: 'aes256-gcm' } });
  await app.api.inject({ method: 'DELETE', url: '/v1/keys/k1', headers: bearer(rootToken) });
  const { publicKey } = (await app.api.inject({ method: 'GET', url: '/v1/sys/audit/public-key', headers: bearer(rootToken) })).json() as { publicKey: string };
  await app.close();
  const lastSeen = checkpoints(readLog(file)).at(-1)!;
  const genesisHash = parse(readLog(file)[0]!).hash;
  rmSync(file); // the host attacker deletes the log

  const second = await auditedApp(t, dir, { checkpointEvery: 4 });
  app = second.app;
  await unsealVault(app, shares);
  const r = await app.api.inject({ method: 'GET', url: '/v1/keys', headers: bearer(rootToken) });
  assert.equal(r.statusCode, 200, 'the node keeps serving');
  const previous = previousOf(file);
  assert.ok(previous !== null, 'the new genesis is not "previous": null');
  assert.equal(previous.code, 'KH_AUDIT_LOG_UNVERIFIABLE');
  assert.match(previous.reason, /missing or empty/);
  assert.deepEqual(previous.expectedHead, { segment: genesisHash, seq: lastSeen.seq, hash: lastSeen.hash });
  assert.ok(verifyLines(readLog(file), { publicKey: checkpointVerifier(publicKey) }).ok, 'the new log verifies');
  assert.deepEqual(await metric(app, 'keyhold_audit_log_damaged '), ['keyhold_audit_log_damaged 1']);
  assert.ok((await metric(app, 'keyhold_audit_log_damage_total{stage="set_aside"}')).includes('keyhold_audit_log_damage_total{stage="set_aside"} 1'));
  const alert = second.logLines.find((l) => /"level":50/.test(l) && /KH_AUDIT_LOG_UNVERIFIABLE/.test(l));
  assert.ok(alert !== undefined && /missing or empty/.test(alert), second.logLines.join('\n'));
  assert.ok(second.logLines.every((l) => !/"stack"/.test(l)), 'no stack in the log');
});

test('a log emptied in place, or cut back to an earlier checkpoint, is set aside as damage', async (t) => {
  for (const cut of ['empty', 'earlier checkpoint'] as const) {
    const v = await recordingVault(t);
    let device = await v.openDevice(3);
    await appendMany(device, 10); // checkpoints at 1, 5, 9, 13
    await device.close();
    const log = readLog(v.file);
    const seen = checkpoints(log).at(-1)!;
    const earlier = checkpoints(log).at(-2)!;
    if (cut === 'empty') truncateSync(v.file, 0);
    else writeLog(v.file, log.slice(0, earlier.seq)); // ends exactly on a signed checkpoint: it verifies on its own
    if (cut !== 'empty') assert.ok(verifyLines(readLog(v.file), { publicKey: await pinned(v.signingKey) }).ok, 'offline, the cut alone passes');
    device = await v.openDevice(3);
    assert.equal(device.damage, undefined, 'sealed-time checks alone cannot see it');
    await device.append({ type: 'request', operation: 'after' });
    assert.match(damageOf(device)?.reason ?? '', cut === 'empty' ? /missing or empty/ : new RegExp(`last checkpoint is at seq ${earlier.seq}, behind the checkpoint at seq ${seen.seq}`), cut);
    assert.ok(damageOf(device)?.setAsideAs !== undefined, cut);
    await device.close();
    const previous = previousOf(v.file)!;
    assert.deepEqual(previous.expectedHead?.seq, seen.seq, cut);
    assert.deepEqual(previous.lastCheckpoint, cut === 'empty' ? null : { seq: earlier.seq, hash: earlier.hash, verified: true }, cut);
    assert.equal(setAside(v.dir).length, 1, cut);
  }
});

test('another log put in place (another genesis), or a fork that differs at the recorded seq, is set aside as damage', async (t) => {
  const v = await recordingVault(t);
  let device = await v.openDevice(3);
  await appendMany(device, 3); // checkpoints 1, 5
  await device.close();
  const snapshot = join(v.dir, 'snapshot');
  copyFileSync(v.file, snapshot);
  device = await v.openDevice(3);
  await appendMany(device, 4, 3); // checkpoint 9 recorded
  await device.close();
  const recorded = await v.head.get();
  assert.equal(recorded?.seq, 9);

  // A fork from the snapshot, extended past the recorded seq by a device that records nothing: signed and MAC'd by the node's keys.
  const fork = await FileAuditDevice.open(snapshot, { checkpoints: { every: 3, signer: v.signingKey } });
  await appendMany(fork, 8, 100);
  await fork.close();
  const forked = readLog(snapshot);
  assert.ok(checkpoints(forked).at(-1)!.seq > 9 && parse(forked[8]!).hash !== recorded?.hash);
  copyFileSync(snapshot, v.file);
  device = await v.openDevice(3);
  await device.append({ type: 'request', operation: 'after fork' });
  assert.match(device.damage?.reason ?? '', /entry at seq 9 is not the checkpoint at seq 9 the node recorded/);
  await device.close();

  // A whole other log, verifiable with the node's key (another device, another file): its genesis is not the recorded one.
  const other = join(v.dir, 'other.log');
  const stranger = await FileAuditDevice.open(other, { checkpoints: { every: 3, signer: v.signingKey } });
  await appendMany(stranger, 20, 200);
  await stranger.close();
  copyFileSync(other, v.file);
  device = await v.openDevice(3);
  await device.append({ type: 'request', operation: 'after replacement' });
  assert.match(device.damage?.reason ?? '', /genesis differs: replaced/);
  await device.close();
  assert.equal(setAside(v.dir).length, 2);
});

test('the head is recorded only after the checkpoint is durable; a file ahead of the record (crash in between) is accepted', async (t) => {
  const v = await recordingVault(t);
  const puts: AuditHead[] = [];
  const early: AuditHead[] = [];
  let drop = false;
  // Checks at every put that the checkpoint is already in the file, then (unless dropping) records it.
  // (The device swallows a failing put, so a failed check is collected rather than thrown.)
  const spy: AuditHeadStore = {
    get: () => v.head.get(),
    put: async (head) => {
      const onDisk = readLog(v.file).map(parse).find((e) => e.seq === head.seq);
      if (onDisk?.hash !== head.hash || onDisk.type !== 'checkpoint') early.push(head);
      puts.push(head);
      if (!drop) await v.head.put(head);
    },
  };
  let device = await v.openDevice(3, spy);
  await appendMany(device, 7); // checkpoints 1, 5, 9: three records, one per checkpoint
  assert.deepEqual(puts.map((h) => h.seq), [1, 5, 9]);
  assert.deepEqual(early, [], 'the file holds each checkpoint before the record names it');
  drop = true; // the node dies after the next fdatasync, before its record
  await appendMany(device, 4, 7); // checkpoint 13 written, not recorded
  await device.close();
  assert.equal((await v.head.get())?.seq, 9);
  device = await v.openDevice(3);
  await device.append({ type: 'request', operation: 'after crash' });
  assert.equal(device.damage, undefined, 'a file ahead of the record is not damage');
  await device.close();
  assert.equal(setAside(v.dir).length, 0);
  assert.ok(verifyLines(readLog(v.file), { publicKey: await pinned(v.signingKey) }).ok);
});

test('a crash between a new log\'s genesis and its record: the genesis names the recorded head, so the new log is accepted', async (t) => {
  const v = await recordingVault(t);
  let device = await v.openDevice(3);
  await appendMany(device, 4); // checkpoints 1, 5 recorded
  await device.close();
  const before = await v.head.get();
  writeFileSync(v.file, `${readLog(v.file).join('\n')}\n{"seq":99,"remoteAddress":undefined}\n`); // damage: the next write sets the file aside
  const forgetful: AuditHeadStore = { get: () => v.head.get(), put: async () => {} };
  device = await v.openDevice(3, forgetful);
  await device.append({ type: 'request', operation: 'first in the new log' });
  assert.match(device.damage?.reason ?? '', /not JSON/);
  await device.close();
  assert.deepEqual(await v.head.get(), before, 'the new genesis was never recorded');
  assert.deepEqual(previousOf(v.file)?.expectedHead, before);
  device = await v.openDevice(3);
  await appendMany(device, 3, 50); // up to the new log's next checkpoint, which is recorded
  assert.equal(device.damage, undefined, 'the signed genesis names the recorded head');
  await device.close();
  assert.equal(setAside(v.dir).length, 1);
  assert.equal((await v.head.get())?.segment, parse(readLog(v.file)[0]!).hash, 'the new log is now the recorded one');

  // The same genesis edited by someone without the signing key no longer verifies, so naming the head is not enough.
  const lines = readLog(v.file);
  const recorded = (await v.head.get())!;
  const forged = parse(lines[0]!);
  (forged.genesis as unknown as { previous: Previous }).previous.expectedHead = recorded;
  const stranger = rechain([forged, ...lines.slice(1).map(parse)]);
  writeLog(v.file, stranger);
  device = await v.openDevice(3);
  await device.append({ type: 'request', operation: 'after forgery' });
  assert.ok(device.damage !== undefined, 'a forged genesis is damage');
  await device.close();
  assert.ok(readFileSync(join(v.dir, setAside(v.dir).sort().at(-1)!), 'utf8').length > 0);
});

test('another signed log with a first line and an entry made to match the record is still damage (the chain from the recorded checkpoint is verified)', async (t) => {
  const v = await recordingVault(t);
  let device = await v.openDevice(3);
  await appendMany(device, 10); // checkpoints 1, 5, 9, 13: 13 recorded
  await device.close();
  const recorded = (await v.head.get())!;
  assert.equal(recorded.seq, 13);
  // A longer log signed and MAC'd by the same node (say an old set-aside file), whose tail verifies with the keys.
  const other = join(v.dir, 'other.log');
  const stranger = await FileAuditDevice.open(other, { checkpoints: { every: 3, signer: v.signingKey } });
  await appendMany(stranger, 30, 300);
  await stranger.close();
  const lines = readLog(other).map(parse);
  lines[0] = { ...lines[0]!, hash: recorded.segment }; // claims the recorded genesis
  lines[12] = { ...lines[12]!, hash: recorded.hash }; // claims the recorded checkpoint
  writeLog(v.file, lines.map((e) => JSON.stringify(e)));
  device = await v.openDevice(3);
  await device.append({ type: 'request', operation: 'after splice' });
  assert.match(damageOf(device)?.reason ?? '', /entry at seq 13 is not the checkpoint at seq 13 the node recorded/);
  await device.close();
  assert.equal(setAside(v.dir).length, 1);
});
