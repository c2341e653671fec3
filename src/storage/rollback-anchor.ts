/**
 * An anchor for the storage generation outside the host's disk (issue 15,
 * H3): a place the database cannot be rolled back with. The barrier writes
 * an authenticated blob naming the latest generation (barrier/anchors.ts);
 * an anchor only stores and returns it, and never interprets it.
 *
 * Contract: read() returns the last blob written, undefined when the anchor
 * has never been written, or 'adopt' when an operator with access to the
 * anchor (not to the host) asked it to adopt the vault's current generation
 * (a deliberate restore of an older database). write() is durable before it
 * resolves. Failures throw KeyholdError KH_STORAGE_ANCHOR_UNAVAILABLE.
 */
export interface RollbackAnchor {
  /** For logs and errors: "file", "hsm-counter". */
  readonly name: string;
  /** This anchor's bit in the storage state's `anchors` byte (1, 2, 4 ...). */
  readonly bit: number;
  read(): Promise<Uint8Array | 'adopt' | undefined>;
  write(value: Uint8Array): Promise<void>;
}
