/**
 * Shared by the checkpoint tests: an unsealed barrier with its audit-signing
 * key, a device that checkpoints with it, and an attacker who edits a log and
 * recomputes its chain (everything an attacker with write access but without
 * the node key can do).
 */
import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { Barrier } from '../../src/barrier/barrier.js';
import { AuditSigningKey } from '../../src/audit/signing-key.js';
import { FileAuditDevice } from '../../src/audit/file-device.js';
import { entryHash, type AuditEntry } from '../../src/audit/audit-chain.js';
import { checkpointVerifier } from '../../src/audit/checkpoint.js';
import { tempDir } from '../helpers/temp-dir.js';

export const readLog = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
export const parse = (line: string): AuditEntry => JSON.parse(line) as AuditEntry;

export async function signingVault(t: Pick<TestContext, 'after'>) {
  const dir = tempDir(t);
  const backend = new SqliteBackend({ path: join(dir, 'k.db') });
  t.after(() => backend.close());
  const barrier = new Barrier(backend);
  const rootKey = new Uint8Array(randomBytes(32));
  await backend.transaction([barrier.createKeyring(rootKey)]);
  const signingKey = new AuditSigningKey(barrier);
  const openDevice = (every: number, file = join(dir, 'audit.log'), now?: () => Date) =>
    FileAuditDevice.open(file, { checkpoints: { every, signer: signingKey }, ...(now !== undefined && { now }) });
  return { dir, barrier, rootKey, signingKey, openDevice, file: join(dir, 'audit.log') };
}

/** Appends `n` entries one at a time (each its own batch). */
export async function appendMany(device: FileAuditDevice, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await device.append({ type: 'test', value: `v${i}` });
}

/** A signing vault whose log holds `n` entries written one at a time, checkpointed every `every`; the device is closed. */
export async function writtenLog(t: Pick<TestContext, 'after'>, every: number, n: number) {
  const v = await signingVault(t);
  const device = await v.openDevice(every);
  await appendMany(device, n);
  await device.close();
  return { v, log: readLog(v.file) };
}

/**
 * The attacker: renumbers, relinks and rehashes entries (pointing each
 * checkpoint's covers at its new predecessor and fixing its count) so the
 * chain verifies again; without the node's keys it can neither re-sign
 * checkpoints nor recompute the entries' chain MACs (it keeps the old ones).
 */
export function rechain(entries: AuditEntry[]): string[] {
  const first = entries[0]!;
  let prev = first.prev;
  let lastCheckpoint: number | undefined;
  return entries.map((e, i) => {
    e.seq = first.seq + i;
    e.prev = prev;
    if (e.type === 'checkpoint') {
      e.covers = { seq: e.seq - 1, hash: prev };
      if (lastCheckpoint !== undefined) e.count = e.seq - 1 - lastCheckpoint;
      lastCheckpoint = e.seq;
    }
    e.hash = entryHash(e);
    prev = e.hash;
    return JSON.stringify(e);
  });
}

/** Writes lines as a log file. */
export function writeLog(file: string, lines: string[]): void {
  writeFileSync(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
}

/** The verifier of the vault's published key. */
export async function pinned(signingKey: AuditSigningKey) {
  return checkpointVerifier((await signingKey.publicKey()).publicKey);
}

/** Applies `edit` to the entry on line `index` (0-based), then rechains. */
export function rewrite(lines: string[], index: number, edit: (e: AuditEntry) => void): string[] {
  const entries = lines.map(parse);
  edit(entries[index]!);
  return rechain(entries);
}
