/**
 * The newest entries of a file audit log, for reading it back through an API
 * (VSSM's getlogs). Reads at most the last `maxBytes` of the file and parses
 * complete lines only; the chain is not verified here (`keyhold audit verify`
 * does that), so callers show these entries, they do not trust them.
 */
import { open } from 'node:fs/promises';
import type { AuditEntry } from './audit-chain.js';

/** The last `max` entries, oldest first. A missing file has none. */
export async function readAuditTail(path: string, max: number, maxBytes = 4 << 20): Promise<AuditEntry[]> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    let lines = buf.toString('utf8').split('\n');
    // The first line may be cut by the window, the last may be in the middle of a write.
    if (length < size) lines = lines.slice(1);
    lines.pop();
    const entries: AuditEntry[] = [];
    for (const line of lines.slice(-max)) {
      try {
        const entry = JSON.parse(line) as AuditEntry;
        if (typeof entry === 'object' && entry !== null && typeof entry.seq === 'number' && typeof entry.time === 'string') entries.push(entry);
      } catch {
        // A damaged line is left out of the listing; `keyhold audit verify` reports it.
      }
    }
    return entries;
  } finally {
    await handle.close();
  }
}
