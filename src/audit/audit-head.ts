/**
 * The audit head record (issue 15 review, finding 5): the node's own memory of
 * the last checkpoint it made durable in its audit log, kept behind the
 * barrier at audit/head as { segment, seq, hash }:
 * - segment: the hash of the log file's genesis entry (seq 1), which names the
 *   file's chain; a new log started after damage has a new one;
 * - seq, hash: the last checkpoint whose write and fdatasync completed.
 *
 * Without it, a deleted or emptied log looked like a first start and a log cut
 * back to an earlier checkpoint looked whole: the file alone cannot say what
 * it used to hold. Barrier records are covered by the storage set hash
 * (barrier.ts), so this one cannot be rolled back or deleted on its own
 * without KH_STORAGE_ROLLBACK; rolling back the database together with the
 * log is the rollback anchors' job (docs/storage-rollback.md).
 *
 * It is written once per checkpoint (every audit.checkpointEvery entries), and
 * only after the checkpoint's fdatasync, so the record is never ahead of the
 * durable file: after a crash the file may be ahead of it, never behind.
 */
import { KeyholdError } from '../errors.js';
import type { Barrier } from '../barrier/barrier.js';
import { utf8 } from '../crypto/bytes.js';

export interface AuditHead {
  /** Hash of the log file's genesis entry. */
  segment: string;
  /** seq and hash of the last durable checkpoint. */
  seq: number;
  hash: string;
}

/** Where the device keeps its head (only readable and writable while unsealed). */
export interface AuditHeadStore {
  /** The recorded head, or undefined when none was ever recorded. @throws KeyholdError KH_SEALED, KH_STORAGE_* */
  get(): Promise<AuditHead | undefined>;
  /** Records a head. @throws KeyholdError KH_SEALED, KH_STORAGE_* */
  put(head: AuditHead): Promise<void>;
}

const PATH = 'head';
const isHex64 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

/** The head record in the barrier. */
export class AuditHeadRecord implements AuditHeadStore {
  readonly #view;

  constructor(barrier: Barrier) {
    // The same options as the other audit/ views (audit-log.ts, signing-key.ts): views sharing a prefix must agree on wrapping.
    this.#view = barrier.view('audit/', { sealWrap: true });
  }

  async get(): Promise<AuditHead | undefined> {
    const stored = await this.#view.get(PATH);
    if (stored === undefined) return undefined;
    let head: unknown;
    try {
      head = JSON.parse(Buffer.from(stored).toString('utf8'));
    } catch (e) {
      throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the audit head record does not parse', { cause: e });
    }
    const h = head as Partial<AuditHead> | null;
    // The record passed the barrier's AEAD, so a bad shape is our own bug or an old format, never an attacker's edit.
    if (typeof h !== 'object' || h === null || !isHex64(h.segment) || !Number.isSafeInteger(h.seq) || !isHex64(h.hash))
      throw new KeyholdError('KH_STORAGE_INTEGRITY', 'the audit head record has an unknown shape');
    return { segment: h.segment, seq: h.seq!, hash: h.hash };
  }

  async put(head: AuditHead): Promise<void> {
    await this.#view.put(PATH, utf8(JSON.stringify({ segment: head.segment, seq: head.seq, hash: head.hash })));
  }
}
