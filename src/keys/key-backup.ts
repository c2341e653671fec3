/**
 * A backup of every key record that keeps keys non-exportable: the records
 * are sealed by the barrier itself (AES-256-GCM under the keyring's active
 * term, AAD = the fixed path "backup/keys-v1" and the term; seal-wrapped too
 * when an HSM seal wraps records), so only a vault holding the same keyring
 * (the same root key: this vault, or one restored from its storage) opens it.
 * The blob never holds key material that another vault, or its holder, can read.
 *
 * Restoring adds the keys that are missing and leaves every existing key as
 * it is (a backup never rolls back a key in use). A backup holding a key that
 * was deleted here is refused as a whole (KH_BACKUP_KEY_DELETED): deletion is
 * crypto-shredding, and restoring needs less permission than deleting.
 */
import { KeyholdError } from '../errors.js';
import { utf8, wipe } from '../crypto/bytes.js';
import type { Barrier } from '../barrier/barrier.js';
import { decodeKeyRecord, type KeyRecord } from './key-record.js';
import type { KeyManager } from './key-manager.js';

const BACKUP_PATH = 'backup/keys-v1';
const FORMAT = 'keyhold-key-backup-v1';

/** The barrier-sealed backup of all key records. */
export async function exportKeyRecords(barrier: Barrier, keys: KeyManager): Promise<{ blob: Uint8Array; count: number }> {
  const records = (await keys.store.all()).map((k) => k.record);
  const plain = utf8(JSON.stringify({ format: FORMAT, records }));
  try {
    const op = barrier.encryptOp({ type: 'put', path: BACKUP_PATH, value: await barrier.sealWrapValue(BACKUP_PATH, plain) });
    if (op.type !== 'put') throw new TypeError('a put became a delete');
    return { blob: op.value, count: records.length };
  } finally {
    wipe(plain);
  }
}

/**
 * Restores the keys of a backup made by exportKeyRecords on a vault with this keyring.
 * @throws KeyholdError KH_BACKUP_INVALID when the blob was made by another vault or is damaged
 */
export async function importKeyRecords(barrier: Barrier, keys: KeyManager, blob: Uint8Array): Promise<{ restored: string[]; skipped: string[] }> {
  let records: unknown[];
  let plain: Uint8Array | undefined;
  try {
    plain = await barrier.sealUnwrapValue(BACKUP_PATH, barrier.decryptRecord(BACKUP_PATH, blob));
    const parsed = JSON.parse(new TextDecoder().decode(plain)) as { format?: unknown; records?: unknown };
    if (parsed.format !== FORMAT || !Array.isArray(parsed.records)) throw new TypeError('not a key backup');
    records = parsed.records;
  } catch (e) {
    if (e instanceof KeyholdError && e.code !== 'KH_STORAGE_INTEGRITY') throw e;
    throw new KeyholdError('KH_BACKUP_INVALID', 'the backup does not open on this vault: it was made by a vault with another keyring (root key), or it is damaged', { cause: e });
  } finally {
    wipe(plain);
  }
  // Every record is checked before any is written, so a damaged backup restores nothing.
  const checked: KeyRecord[] = records.map((r) => {
    try {
      return decodeKeyRecord(utf8(JSON.stringify(r)));
    } catch (e) {
      throw new KeyholdError('KH_BACKUP_INVALID', 'the backup holds a malformed key record', { cause: e });
    }
  });
  let deleted = 0;
  for (const record of checked) if (await keys.wasDeleted(record)) deleted++;
  if (deleted > 0) throw new KeyholdError('KH_BACKUP_KEY_DELETED', `${deleted} key(s) of the backup were deleted on this vault; a backup never brings back a deleted key, so nothing was restored`);
  const restored: string[] = [];
  const skipped: string[] = [];
  // restoreRecord checks again under each key's lock (a key deleted meanwhile is skipped, never restored).
  for (const record of checked) ((await keys.restoreRecord(record)) === 'restored' ? restored : skipped).push(record.name);
  return { restored, skipped };
}
