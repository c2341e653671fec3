/**
 * Prometheus metrics (prom-client), served on the health port. Labels use the
 * route pattern, never the raw URL, so names and ids cannot leak into metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { SealManager } from '../../seal/seal-manager.js';
import type { MixerStats } from '../../crypto/entropy-mixer.js';
import { secondFactorStats } from '../../auth/login-throttle.js';

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(seal: SealManager) {
    collectDefaultMetrics({ register: this.registry, prefix: 'keyhold_' });
    this.requests = new Counter({
      name: 'keyhold_http_requests_total',
      help: 'API requests by route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'keyhold_http_request_duration_seconds',
      help: 'API request latency by route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    new Gauge({
      name: 'keyhold_sealed',
      help: '1 while sealed (or uninitialized), 0 while unsealed',
      registers: [this.registry],
      collect() {
        this.set(seal.sealed ? 1 : 0);
      },
    });
    new Gauge({
      name: 'keyhold_initialized',
      help: '1 once initialized',
      registers: [this.registry],
      async collect() {
        this.set((await seal.status()).initialized ? 1 : 0);
      },
    });
    // Process-wide like the login throttle; a rising lock count means someone holds a password and is guessing its codes.
    new Gauge({
      name: 'keyhold_login_second_factor_failures_total',
      help: 'Logins with the right password and a wrong second factor (OTP or recovery code)',
      registers: [this.registry],
      collect() {
        this.set(secondFactorStats().failures);
      },
    });
    new Gauge({
      name: 'keyhold_login_second_factor_locks_total',
      help: "Times an account's second factor was locked after repeated wrong codes",
      registers: [this.registry],
      collect() {
        this.set(secondFactorStats().locks);
      },
    });
  }

  /** Exposes the HSM entropy augmentation counters (when entropy.source is pkcs11). */
  watchEntropy(stats: MixerStats): void {
    new Gauge({
      name: 'keyhold_hsm_entropy_bytes_total',
      help: 'Bytes drawn from the HSM random generator for entropy augmentation',
      registers: [this.registry],
      collect() {
        this.set(stats.externalBytes);
      },
    });
    new Gauge({
      name: 'keyhold_hsm_entropy_failures_total',
      help: 'Draws where the HSM random generator failed',
      registers: [this.registry],
      collect() {
        this.set(stats.externalFailures);
      },
    });
  }

  /** Exposes automatic-unseal attempts and whether the last one failed. */
  watchAutoUnseal(unsealer: { attempts: number; lastError: string | undefined }): void {
    new Gauge({
      name: 'keyhold_auto_unseal_attempts_total',
      help: 'Automatic unseal attempts with an automatic seal (pkcs11, enclave)',
      registers: [this.registry],
      collect() {
        this.set(unsealer.attempts);
      },
    });
    new Gauge({
      name: 'keyhold_auto_unseal_failing',
      help: '1 while the last automatic unseal attempt failed',
      registers: [this.registry],
      collect() {
        this.set(unsealer.lastError === undefined ? 0 : 1);
      },
    });
  }

  /**
   * Exposes damage the node found in its audit log (issue 15: a log that does
   * not verify raises an alert; it never stops the node from starting).
   */
  watchAudit(device: { readonly damage: { setAsideAs: string | undefined } | undefined; onDamage(listener: (d: { setAsideAs: string | undefined }) => void): void }): void {
    const found = new Counter({
      name: 'keyhold_audit_log_damage_total',
      help: 'Audit log files that did not verify: stage "found" (at start, while sealed), "set_aside" (checked with the keys before the first write, renamed, a new log started)',
      labelNames: ['stage'],
      registers: [this.registry],
    });
    device.onDamage((d) => found.inc({ stage: d.setAsideAs === undefined ? 'found' : 'set_aside' }));
    new Gauge({
      name: 'keyhold_audit_log_damaged',
      help: '1 when the audit log found at start did not verify (see the error log line and the new segment genesis)',
      registers: [this.registry],
      collect() {
        this.set(device.damage === undefined ? 0 : 1);
      },
    });
  }

  /** Storage rollback and policy fail-closed state (issue 15: H3, M6). */
  watchStorage(barrier: { readonly anchorFailing: boolean }, policy: { readonly untrustedBundle: boolean }): void {
    new Gauge({
      name: 'keyhold_policy_bundle_untrusted',
      help: "1 while the enforced policy bundle's signing key is no longer in policy.trustedKeys (it stays enforced by its recorded hash)",
      registers: [this.registry],
      collect() {
        this.set(policy.untrustedBundle ? 1 : 0);
      },
    });
    new Gauge({
      name: 'keyhold_storage_anchor_failing',
      help: '1 while the last write to a storage rollback anchor failed (the anchor lags the database)',
      registers: [this.registry],
      collect() {
        this.set(barrier.anchorFailing ? 1 : 0);
      },
    });
  }

  /** Records every API answer; the route label is the pattern ("/v1/sys/unseal"), or "unknown". */
  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unknown';
      this.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }
}
