/**
 * What Keyhold records about each request, and how sensitive values are
 * hidden: every string value (plaintexts, ciphertexts, names, tokens, ...) is
 * replaced by "hmac-sha256:<hex>" under a per-vault audit key kept behind the
 * barrier, as Vault's audit devices do; `POST /v1/sys/audit-hash` computes the
 * same HMAC so an operator can search for a known value. A few fields that
 * only name algorithms or formats are kept in the clear. Redaction walks the
 * input within fixed depth and size bounds (audit-value.ts), so no input
 * shape can make the audit of a request fail.
 */
import { createHmac } from 'node:crypto';
import type { Barrier } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { entropy } from '../crypto/random.js';
import { wipe } from '../crypto/bytes.js';
import type { AuditFields, AuditValue } from './audit-chain.js';
import type { FileAuditDevice } from './file-device.js';
import { AuditSigningKey } from './signing-key.js';
import { toAuditValue } from './audit-value.js';

/** Request/response fields whose string values are not sensitive (algorithm and format names). */
const CLEAR_FIELDS = new Set(['type', 'hash', 'signatureAlgorithm', 'signatureFormat', 'format', 'output', 'algorithm', 'state', 'code']);

function hmacOf(key: Uint8Array, value: string): string {
  return `hmac-sha256:${createHmac('sha256', key).update(value).digest('hex')}`;
}

export class AuditLog {
  readonly device: FileAuditDevice | undefined;
  /** The checkpoint signing key, whose public half GET /v1/sys/audit/public-key publishes. */
  readonly signingKey: AuditSigningKey;
  /** The audit HMAC key, created on first use and stored through the barrier. */
  readonly #key: { get(): Promise<Uint8Array> };

  /**
   * `signingKey` must be the instance the device signs checkpoints with: two
   * instances over one barrier could each create a key on first use, and the
   * published one would not be the one signing.
   * @throws TypeError when the device signs with another instance.
   */
  constructor(barrier: Barrier, device: FileAuditDevice | undefined, signingKey: AuditSigningKey = new AuditSigningKey(barrier)) {
    const deviceSigner = device?.checkpointSigner;
    if (deviceSigner !== undefined && deviceSigner !== signingKey) throw new TypeError('the audit log and its device must share one AuditSigningKey');
    this.device = device;
    this.signingKey = signingKey;
    const view = barrier.view('audit/', { sealWrap: true });
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
    return hmacOf(await this.#key.get(), value);
  }

  /** A copy of `value` with every sensitive string replaced by its HMAC (one key fetch, then synchronous). */
  async redact(value: unknown): Promise<AuditValue> {
    const key = await this.#key.get();
    return toAuditValue(value, (s, field) => (CLEAR_FIELDS.has(field) && s.length <= 64 ? s : hmacOf(key, s)));
  }

  /** Appends an entry (no-op without a device). @throws KeyholdError KH_AUDIT_UNAVAILABLE */
  async record(fields: AuditFields): Promise<void> {
    await this.device?.append(fields);
  }
}
