/**
 * Crash safety: kill -9 in the middle of a burst of writes loses nothing that
 * was acknowledged, leaves no half-applied batch, and the store reopens clean.
 *
 * (a) storage/barrier level: test/fixtures/crash-writer.ts writes through a
 *     Barrier on SQLite and prints an ack after each durable write.
 * (b) server level: the built CLI in --dev mode answering POST /v1/sys/rotate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { tempDir } from '../helpers/temp-dir.js';
import { crashRecordPath, crashRecordValue } from '../fixtures/crash-records.js';
import { spawnChild, startCliServer } from './child-process.js';
import { nodeArgsFor } from '../helpers/ts-entry.js';
import { fixturePath } from '../helpers/vectors.js';

const WRITER = nodeArgsFor(fixturePath(import.meta.url, '../fixtures/crash-writer.ts'));

/** What the writer reported before it died. */
interface WriterLog {
  acked: Set<number>;
  batches: [number, number][];
  maxTerm: number;
  /** One past the highest index the writer may have started writing. */
  announcedEnd: number;
}

function parseWriterLine(log: WriterLog, line: string): void {
  const [word, a, b] = line.split(' ');
  if (word === 'ack') {
    const i = Number(a);
    log.acked.add(i);
    log.announcedEnd = Math.max(log.announcedEnd, i + 1);
  } else if (word === 'batch') {
    log.batches.push([Number(a), Number(b)]);
    log.announcedEnd = Math.max(log.announcedEnd, Number(b));
  } else if (word === 'term') {
    log.maxTerm = Math.max(log.maxTerm, Number(a));
  }
}

test('kill -9 during barrier writes: every acknowledged record survives and decrypts; batches are all-or-nothing', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'crash.db');
  const rootKey = randomBytes(32);
  const allAcked = new Set<number>();
  let maxAckedTerm = 1;
  const ROUNDS = 4;

  for (let round = 0; round < ROUNDS; round++) {
    const first = round * 1_000_000;
    const child = spawnChild(t, [...WRITER, dbPath, rootKey.toString('hex'), round === 0 ? 'create' : 'open', String(first)]);
    const log: WriterLog = { acked: new Set(), batches: [], maxTerm: 0, announcedEnd: first };
    child.onLine((line) => parseWriterLine(log, line));
    await child.waitFor(/^ready$/m, 15_000);

    // Kill at a random moment a few hundred ms into the burst, once some writes were acknowledged.
    const killAfter = randomInt(120, 450);
    const started = Date.now();
    while ((Date.now() - started < killAfter || log.acked.size < 20) && Date.now() - started < 10_000) {
      await sleep(5);
      if (child.proc.exitCode !== null) break;
    }
    const exit = await child.kill9();
    assert.equal(exit.signal, 'SIGKILL', `writer ended on its own before the kill: ${JSON.stringify(exit)}\n${child.stderr()}`);
    assert.ok(log.acked.size >= 20, `writer acknowledged only ${log.acked.size} writes before the kill\n${child.stderr()}`);
    t.diagnostic(`round ${round}: killed after ${Date.now() - started} ms, ${log.acked.size} records and term ${log.maxTerm} acknowledged`);
    for (const i of log.acked) allAcked.add(i);
    maxAckedTerm = Math.max(maxAckedTerm, log.maxTerm);

    // Reopen: quick_check runs in the constructor, so a damaged file would throw here.
    const backend = new SqliteBackend({ path: dbPath });
    try {
      const barrier = new Barrier(backend);
      await barrier.unseal(rootKey);
      assert.ok(barrier.keyStatus().term >= maxAckedTerm, `keyring term ${barrier.keyStatus().term} < acknowledged ${maxAckedTerm}`);

      for (const i of allAcked) {
        const got = await barrier.get(crashRecordPath(i));
        assert.ok(got !== undefined, `round ${round}: acknowledged rec/${i} is missing`);
        assert.deepEqual(Buffer.from(got), Buffer.from(crashRecordValue(i)), `round ${round}: rec/${i} has the wrong value`);
      }

      // Everything present decrypts to its expected value (no torn or garbage record), and was at least started.
      const present = new Set<number>();
      for (const path of await barrier.list('rec/')) {
        const i = Number(path.slice('rec/'.length));
        present.add(i);
        const got = await barrier.get(path);
        assert.deepEqual(Buffer.from(got ?? []), Buffer.from(crashRecordValue(i)), `round ${round}: ${path} has the wrong value`);
      }
      // (A single put in flight at the kill is announced by nothing: it is the one after the last ack.)
      for (const i of present) {
        if (i >= first && i < first + 1_000_000) assert.ok(i <= log.announcedEnd, `rec/${i} exists but was never started`);
      }

      // A batch is atomic: after the crash either all of its records exist or none does.
      for (const [from, to] of log.batches) {
        let n = 0;
        for (let j = from; j < to; j++) if (present.has(j)) n++;
        assert.ok(n === 0 || n === to - from, `round ${round}: batch ${from}..${to - 1} is half applied (${n} of ${to - from})`);
      }
    } finally {
      await backend.close();
    }
  }
  assert.ok(allAcked.size >= ROUNDS * 20);
});

interface BurstResult {
  acked: number;
  maxTerm: number;
  sent: number;
  /** Non-200 answers (status and body), which must not happen before the kill. */
  refused: string[];
}

/** POSTs /v1/sys/rotate from `workers` loops until `stop()` says so; a network error ends a loop. */
async function rotateBurst(apiUrl: string, token: string, workers: number, stop: () => boolean, onAck: () => void): Promise<BurstResult> {
  const result: BurstResult = { acked: 0, maxTerm: 0, sent: 0, refused: [] };
  const loop = async (): Promise<void> => {
    for (let n = 0; n < 5_000 && !stop(); n++) {
      result.sent++;
      let res: Response;
      try {
        res = await fetch(`${apiUrl}/v1/sys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
      } catch {
        return; // the server died under us: that request was not acknowledged
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        return; // killed while the answer was in flight: not acknowledged either
      }
      if (res.status === 200) {
        const term = (body as { term: number }).term;
        result.acked++;
        result.maxTerm = Math.max(result.maxTerm, term);
        onAck();
      } else {
        result.refused.push(`${res.status} ${JSON.stringify(body)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  return result;
}

test('kill -9 during a burst of POST /v1/sys/rotate: the restarted server has at least the highest acknowledged term', async (t) => {
  const dataDir = tempDir(t);
  const token = `crash-test-${randomBytes(8).toString('hex')}`;
  const args = ['--dev', '--data-dir', dataDir, '--dev-root-token', token, '--api-port', '0', '--health-port', '0', '--log-level', 'silent'];
  let highest = 1;

  for (let round = 0; round < 2; round++) {
    const { child, apiUrl } = await startCliServer(t, args);
    const before = await fetch(`${apiUrl}/v1/sys/key-status`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(before.status, 200);
    const startTerm = ((await before.json()) as { term: number }).term;
    assert.ok(startTerm >= highest, `after restart ${round}: term ${startTerm} < acknowledged ${highest}`);

    let acks = 0;
    let killed = false;
    const burst = rotateBurst(apiUrl, token, 4, () => killed, () => acks++);
    const killAfter = randomInt(150, 400);
    const started = Date.now();
    while ((Date.now() - started < killAfter || acks < 10) && Date.now() - started < 10_000) await sleep(5);
    const exit = await child.kill9();
    killed = true;
    const result = await burst;
    assert.equal(exit.signal, 'SIGKILL', `server ended before the kill: ${JSON.stringify(exit)}\n${child.stderr()}`);
    assert.ok(result.acked >= 10, `only ${result.acked} rotations acknowledged`);
    assert.deepEqual(result.refused, [], 'rotations were refused before the kill');
    assert.ok(result.maxTerm >= startTerm + 1);
    highest = Math.max(highest, result.maxTerm);
    t.diagnostic(`round ${round}: ${result.sent} rotations sent, ${result.acked} acknowledged (highest term ${result.maxTerm}) before the kill`);

    // Restart on the same data dir: dev mode re-unseals from dev-credentials.json.
    const again = await startCliServer(t, args);
    const ks = await fetch(`${again.apiUrl}/v1/sys/key-status`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ks.status, 200, await ks.clone().text());
    const status = (await ks.json()) as { term: number; terms: number };
    assert.ok(status.term >= highest, `round ${round}: term ${status.term} after restart < highest acknowledged ${highest}`);
    assert.ok(status.term <= startTerm + result.sent, `term ${status.term} is more than the rotations sent`);
    assert.equal(status.terms, status.term, 'every term up to the active one is kept');
    // The restarted node keeps working: one more rotation is acknowledged.
    const r = await fetch(`${again.apiUrl}/v1/sys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    highest = ((await r.json()) as { term: number }).term;
    assert.equal(highest, status.term + 1);
    await again.child.kill9();
  }
});
