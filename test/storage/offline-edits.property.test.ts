/**
 * Property (issue 15, H3): random offline edits of the SQLite file between
 * restarts — a row rolled back to an older copy of itself, deleted,
 * resurrected, copied to another path, a byte flipped, the keyring row
 * rolled back, or all records rolled back under the current keyring — are
 * always detected: unseal refuses (KH_STORAGE_ROLLBACK or
 * KH_STORAGE_INTEGRITY), or every read of a changed record is refused. A
 * changed value is never returned, and no other error (a 500) ever appears.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { Barrier } from '../../src/barrier/barrier.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { KeyholdError } from '../../src/errors.js';
import { editDb } from '../helpers/db-file.js';
import { tempDir } from '../helpers/temp-dir.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const DETECTED = new Set(['KH_STORAGE_ROLLBACK', 'KH_STORAGE_INTEGRITY']);

/** Stand-ins for the seal's records read while sealed; the barrier keeps their hash in the keyring. */
const SEALED = ['core/recovery-check', 'core/seal-config'];
function sealedBarrier(backend: SqliteBackend): Barrier {
  const b = new Barrier(backend);
  b.protectSealedReadable(SEALED);
  return b;
}

type Rows = Map<string, Buffer>;
function readRows(path: string): Rows {
  const db = new Database(path);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    return new Map(db.prepare<[], { key: string; value: Buffer }>('SELECT key, value FROM kv').all().map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

const op = fc.oneof(
  fc.record({ type: fc.constant<'put'>('put'), path: fc.constantFrom('a', 'b', 'c', 'd/e', 'd/f'), value: fc.string({ maxLength: 12 }) }),
  fc.record({ type: fc.constant<'delete'>('delete'), path: fc.constantFrom('a', 'b', 'c', 'd/e', 'd/f') }),
);
const edit = fc.oneof(
  fc.record({ kind: fc.constant('rollback-row' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('delete-row' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('resurrect-row' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('copy-row' as const), pick: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('flip-byte' as const), pick: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant('rollback-keyring' as const) }),
  fc.record({ kind: fc.constant('rollback-records' as const) }),
  // Records read while sealed (review 9): changed, deleted or added beside the keyring that hashes them.
  fc.record({ kind: fc.constant('sealed-record' as const), pick: fc.nat() }),
);

test('random offline row edits, deletions and rollbacks of the SQLite file between restarts are always detected, never silently accepted', async (t) => {
  const dir = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), fc.array(op, { minLength: 1, maxLength: 8 }), edit, async (before, after, e) => {
      const path = join(dir, `p${run++}.db`);
      const rootKey = new Uint8Array(randomBytes(32));
      const model = new Map<string, string>();
      const apply = async (b: Barrier, ops: typeof before): Promise<void> => {
        for (const o of ops) {
          if (o.type === 'put') {
            await b.put(o.path, enc(o.value));
            model.set(o.path, o.value);
          } else {
            await b.delete(o.path);
            model.delete(o.path);
          }
        }
      };
      let backend = new SqliteBackend({ path });
      let barrier = sealedBarrier(backend);
      const sealConfig = { type: 'put' as const, key: 'core/seal-config', value: enc('{"threshold":2}') };
      await backend.transaction([barrier.createKeyring(rootKey, [sealConfig]), sealConfig]);
      await apply(barrier, before);
      await backend.close();
      const old = readRows(path);
      backend = new SqliteBackend({ path });
      barrier = sealedBarrier(backend);
      await barrier.unseal(rootKey);
      await apply(barrier, after);
      await backend.close();
      const current = readRows(path);

      // The offline edit, chosen among the rows that exist.
      const logical = (rows: Rows) => [...rows.keys()].filter((k) => k.startsWith('logical/')).sort();
      const choose = <T>(xs: T[], n: number): T | undefined => (xs.length === 0 ? undefined : xs[n % xs.length]);
      let changed = false;
      editDb(path, (db) => {
        const put = (k: string, v: Uint8Array) => {
          db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(k, v);
          changed = true;
        };
        const del = (k: string) => {
          db.prepare('DELETE FROM kv WHERE key = ?').run(k);
          changed = true;
        };
        switch (e.kind) {
          case 'rollback-row': {
            const k = choose(logical(old).filter((k) => current.has(k) && !current.get(k)!.equals(old.get(k)!)), e.pick);
            if (k !== undefined) put(k, old.get(k)!);
            break;
          }
          case 'delete-row': {
            const k = choose(logical(current), e.pick);
            if (k !== undefined) del(k);
            break;
          }
          case 'resurrect-row': {
            const k = choose(logical(old).filter((k) => !current.has(k)), e.pick);
            if (k !== undefined) put(k, old.get(k)!);
            break;
          }
          case 'copy-row': {
            const from = choose(logical(current), e.pick);
            const to = choose(['logical/a', 'logical/b', 'logical/c', 'logical/d/e', 'logical/d/f', 'logical/z'], e.to);
            if (from !== undefined && to !== undefined && to !== from && !current.get(to)?.equals(current.get(from)!)) put(to, current.get(from)!);
            break;
          }
          case 'flip-byte': {
            const k = choose([...current.keys()].filter((k) => k !== 'core/seal-config').sort(), e.pick);
            if (k !== undefined && current.get(k)!.length > 0) {
              const v = Buffer.from(current.get(k)!);
              v[e.at % v.length]! ^= 0x01;
              put(k, v);
            }
            break;
          }
          case 'rollback-keyring': {
            // A keyring rolled back over the very same records (only no-op writes since) serves the same
            // state: nothing to detect without an anchor. Any difference in the records must be caught.
            const a = logical(old);
            const b = logical(current);
            const same = a.length === b.length && a.every((k, i) => k === b[i] && old.get(k)!.equals(current.get(k)!));
            if (!same) put('core/keyring', old.get('core/keyring')!);
            break;
          }
          case 'sealed-record': {
            const which = e.pick % 3;
            if (which === 0) put('core/seal-config', enc('{"threshold":1}'));
            else if (which === 1) del('core/seal-config');
            else put('core/recovery-check', enc('old recovery check'));
            break;
          }
          case 'rollback-records': {
            const a = logical(old);
            const b = logical(current);
            const same = a.length === b.length && a.every((k, i) => k === b[i] && old.get(k)!.equals(current.get(k)!));
            if (!same) {
              for (const k of b) del(k);
              for (const k of a) put(k, old.get(k)!);
            }
            break;
          }
        }
      });

      backend = new SqliteBackend({ path, integrityCheckOnOpen: false });
      try {
        barrier = sealedBarrier(backend);
        try {
          await barrier.unseal(rootKey);
        } catch (err) {
          assert.ok(err instanceof KeyholdError && DETECTED.has(err.code), `unseal failed with ${String(err)}`);
          return;
        }
        // Unsealed: every record either reads back exactly as the model says, or is refused.
        let refused = false;
        for (const p of ['a', 'b', 'c', 'd/e', 'd/f', 'z']) {
          try {
            const got = await barrier.get(p);
            assert.equal(got === undefined ? undefined : dec(got), model.get(p), `${e.kind}: ${p} returned a value the vault never committed last`);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(err instanceof KeyholdError && DETECTED.has(err.code), `read failed with ${String(err)}`);
            refused = true;
          }
        }
        assert.ok(!changed || refused, `${e.kind}: the edit was accepted silently`);
      } finally {
        await backend.close();
      }
    }),
    { numRuns: 60 },
  );
});
