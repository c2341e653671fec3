/**
 * What Keyhold records about each request, and how sensitive values are
 * hidden: every string value (plaintexts, ciphertexts, names, tokens, ...) is
 * replaced by "hmac-sha256:<hex>" under a per-vault audit key kept behind the
 * barrier, as Vault's audit devices do; `POST /v1/sys/audit-hash` computes the
 * same HMAC so an operator can search for a known value. A few fields that
 * only name algorithms or formats are kept in the clear.
 */
import { createHmac } from 'node:crypto';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { entropy } from '../crypto/random.js';
import { wipe } from '../crypto/bytes.js';
import type { AuditFields, AuditValue } from './audit-chain.js';
import type { FileAuditDevice } from './file-device.js';

/** Request/response fields whose string values are not sensitive (algorithm and format names). */
const CLEAR_FIELDS = new Set(['type', 'hash', 'signatureAlgorithm', 'signatureFormat', 'format', 'output', 'algorithm', 'state', 'code']);
const MAX_DEPTH = 8;

export class AuditLog {
  readonly device: FileAuditDevice | undefined;
  readonly #view: BarrierView;
  #key: Promise<Uint8Array> | undefined;
  #keyBytes: Uint8Array | undefined;

  constructor(barrier: Barrier, device: FileAuditDevice | undefined) {
    this.device = device;
    this.#view = barrier.view('audit/');
    barrier.onSeal(() => {
      wipe(this.#keyBytes);
      this.#keyBytes = undefined;
      this.#key = undefined;
    });
  }

  get enabled(): boolean {
    return this.device !== undefined;
  }

  /** The audit HMAC key, created on first use and stored through the barrier. */
  #hmacKey(): Promise<Uint8Array> {
    this.#key ??= (async () => {
      let key = await this.#view.get('hmac-key');
      if (key === undefined) {
        key = entropy(32);
        await this.#view.put('hmac-key', key);
      }
      this.#keyBytes = key;
      return key;
    })().catch((e: unknown) => {
      this.#key = undefined;
      throw e;
    });
    return this.#key;
  }

  /** "hmac-sha256:<hex>" of a value, as it appears in the audit log. */
  async hash(value: string): Promise<string> {
    return `hmac-sha256:${createHmac('sha256', await this.#hmacKey()).update(value).digest('hex')}`;
  }

  /** A copy of `value` with every sensitive string replaced by its HMAC. */
  async redact(value: unknown, field = '', depth = 0): Promise<AuditValue> {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number' || typeof value === 'boolean') return value;
    if (typeof value === 'string') return CLEAR_FIELDS.has(field) && value.length <= 64 ? value : this.hash(value);
    if (depth >= MAX_DEPTH) return this.hash(JSON.stringify(value));
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.redact(v, field, depth + 1)));
    if (typeof value === 'object') {
      const out: { [k: string]: AuditValue } = {};
      for (const [k, v] of Object.entries(value)) out[k] = await this.redact(v, k, depth + 1);
      return out;
    }
    return null;
  }

  /** Appends an entry (no-op without a device). @throws KeyholdError KH_AUDIT_UNAVAILABLE */
  async record(fields: AuditFields): Promise<void> {
    await this.device?.append(fields);
  }
}
