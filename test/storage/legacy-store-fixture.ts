/**
 * Shared by the legacy-upgrade and legacy-downgrade tests: a store written as
 * Keyhold wrote it before the storage generation (records version 1, a
 * keyring record without a storage state, the policy floor in its own row).
 */
import type { Keyring } from '../../src/barrier/keyring.js';
import { SqliteBackend } from '../../src/storage/sqlite-backend.js';
import { aesGcmEncrypt } from '../../src/crypto/aes-gcm.js';
import { concatBytes, utf8 } from '../../src/crypto/bytes.js';
import { signed, signingKey } from '../policy/policy-fixtures.js';

/** The key that signs the legacy stores' bundles. */
export const LEGACY_KEY = signingKey('legacy');

/** A version 1 record exactly as the barrier wrote it before: 1 | term | AES-GCM(AAD "keyhold-barrier-v1" 0 path 0 term). */
export function legacyRecord(ring: Keyring, path: string, value: Uint8Array): Uint8Array {
  const { term, key } = ring.activeKey();
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, term);
  const aad = concatBytes(utf8('keyhold-barrier-v1\0'), utf8(path), new Uint8Array([0]), t);
  return concatBytes(new Uint8Array([1]), t, aesGcmEncrypt(key, value, aad));
}

/** A legacy store's logical rows: data/x, a bundle (version 4, root may do anything) signed by LEGACY_KEY, and the policy floor at `highest`. */
export async function legacyRows(highest: number) {
  const bundle = await signed(LEGACY_KEY, { version: 4, policies: 'permit(principal == Keyhold::User::"root", action, resource);' });
  const rows: [string, Uint8Array][] = [
    ['data/x', utf8('x-value')],
    ['policy/bundle', utf8(JSON.stringify({ bundle: Buffer.from(bundle.bytes).toString('base64'), signature: bundle.signature }))],
    ['policy/version', utf8(JSON.stringify({ highest }))],
  ];
  return { bundle, rows };
}

/** Writes a legacy store at `path` (the keyring under `rootKey`, `rows` as version 1 records) in one transaction; returns its backend, still open. */
export async function writeLegacyStore(path: string, rootKey: Uint8Array, ring: Keyring, rows: [string, Uint8Array][]): Promise<SqliteBackend> {
  const backend = new SqliteBackend({ path });
  await backend.transaction([
    { type: 'put', key: 'core/keyring', value: aesGcmEncrypt(rootKey, ring.serialize(), utf8('keyhold-keyring-v1')) },
    ...rows.map(([p, v]) => ({ type: 'put' as const, key: `logical/${p}`, value: legacyRecord(ring, p, v) })),
  ]);
  return backend;
}
