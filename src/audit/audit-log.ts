/**
 * What Keyhold records about each request, and how sensitive values are
 * hidden: every string value (plaintexts, ciphertexts, names, tokens, ...) is
 * replaced by "hmac-sha256:<hex>" under a per-vault audit key kept behind the
 * barrier, as Vault's audit devices do; `POST /v1/sys/audit-hash` computes the
 * same HMAC so an operator can search for a known value. A few fields that
 * only name algorithms or formats are kept in the clear.
 */
import { createHmac } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { entropy } from '../crypto/random.js';
import { wipe } from '../crypto/bytes.js';
import type { AuditFields, AuditValue } from './audit-chain.js';
import type { FileAuditDevice } from './file-device.js';

/** Request/response fields whose string values are not sensitive (algorithm and format names). */
const CLEAR_FIELDS = new Set(['type', 'hash', 'signatureAlgorithm', 'signatureFormat', 'format', 'output', 'algorithm', 'state', 'code']);
const MAX_DEPTH = 8;

export class AuditLog {
  readonly device: FileAuditDevice | undefined;
  /** The audit HMAC key, created on first use and stored through the barrier. */
  readonly #key: { get(): Promise<Uint8Array> };

  constructor(barrier: Barrier, device: FileAuditDevice | undefined) {
    this.device = device;
    const view = barrier.view('audit/');
    this.#key = sealScoped(
      barrier,
      async () => {
        const stored = await view.get('hmac-key');
        if (stored !== undefined) return stored;
        const key = entropy(32);
        await view.put('hmac-key', key);
        return key;
      },
      (key) => wipe(key),
    );
  }

  get enabled(): boolean {
    return this.device !== undefined;
  }

  /** "hmac-sha256:<hex>" of a value, as it appears in the audit log. */
  async hash(value: string): Promise<string> {
    return `hmac-sha256:${createHmac('sha256', await this.#key.get()).update(value).digest('hex')}`;
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
