/**
 * Workload login by attestation (the `keyhold agent` uses it; docs/agent.md):
 * 1. GET /v1/auth/attest/challenge gives a random nonce: single-use, valid
 *    60 s, bound to nothing else, held in memory (cleared on seal, bounded).
 * 2. The workload asks its enclave for an attestation document carrying that
 *    nonce and its own public key, and POSTs it with the role it claims.
 * 3. The document is verified like a key-release recipient's (signature,
 *    chain to the trusted roots, certificate validity, age), its nonce must
 *    be an unused challenge, and its measurements must satisfy the role
 *    (PCRs, module-id prefix, debug mode). The result is a Workload
 *    principal whose attributes are the measurements (Cedar:
 *    `principal.pcr0`), with `amr: ["attest"]` and bound (`cnf.jkt`) to the
 *    document's public_key, so each request must be signed with that key.
 *
 * The public_key must be able to sign requests (Ed25519 or ECDSA P-256,
 * SPKI DER): an X25519 or RSA key could not prove possession on each
 * request, and an unbound workload token would be usable by whoever copies
 * it, so such documents are refused (KH_ATTEST_LOGIN_KEY_UNSUPPORTED).
 */
import { createPublicKey, randomBytes, type X509Certificate } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import type { Barrier } from '../barrier/barrier.js';
import { verifyNitroDocument, type NitroAttestation } from '../attestation/nitro/verify.js';
import { AttestationError } from '../attestation/errors.js';
import { isDebugEnclave, DEFAULT_MAX_AGE_SECONDS } from '../keys/release/release-policy.js';
import { parseClientKey } from './client-key.js';
import type { Principal } from './principal.js';

export const ATTEST_CHALLENGE_TTL_MS = 60_000;
const MAX_CHALLENGES = 10_000;
const NONCE_BYTES = 32;
export const DEFAULT_WORKLOAD_TOKEN_TTL_SECONDS = 900;
/** PCRs copied into the principal's attributes (cedar-schema.ts WORKLOAD_ATTRIBUTES). */
const ATTRIBUTE_PCRS = [0, 1, 2, 8] as const;

/** A role as configured in auth.attestRoles (config-schema.ts AttestRoleSchema). */
export interface AttestRole {
  readonly pcrs?: Readonly<Record<string, string>> | undefined;
  readonly moduleIdPrefix?: string | undefined;
  readonly allowDebug?: boolean | undefined;
  readonly allowAnyMeasurement?: boolean | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly tokenTtlSeconds?: number | undefined;
}

export interface WorkloadLogin {
  /** The principal of the new session (no sid yet). */
  readonly principal: Omit<Principal, 'sid'>;
  readonly tokenTtlSeconds: number;
}

export class AttestLogin {
  readonly #roles: Readonly<Record<string, AttestRole>>;
  readonly #roots: readonly X509Certificate[];
  readonly #challenges = new Map<string, number>();
  readonly #maxAgeMs: number;

  /**
   * @param roots the trust anchors of key release (AWS Nitro root, enclave.trustedRoots, the simulated root only when trusted)
   */
  constructor(barrier: Barrier, roles: Readonly<Record<string, AttestRole>>, roots: readonly X509Certificate[], options: { maxAgeSeconds?: number } = {}) {
    this.#roles = roles;
    this.#roots = roots;
    this.#maxAgeMs = (options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS) * 1000;
    barrier.onSeal(() => this.#challenges.clear());
  }

  /** A fresh single-use nonce (hex) to put in the attestation document. */
  challenge(now = Date.now()): { nonce: string; expiresIn: number } {
    if (this.#challenges.size >= MAX_CHALLENGES) {
      for (const [c, expiresAt] of this.#challenges) if (expiresAt <= now) this.#challenges.delete(c);
      // Still full: drop the oldest (insertion order), the closest to expiry.
      while (this.#challenges.size >= MAX_CHALLENGES) this.#challenges.delete(this.#challenges.keys().next().value!);
    }
    const nonce = randomBytes(NONCE_BYTES).toString('hex');
    this.#challenges.set(nonce, now + ATTEST_CHALLENGE_TTL_MS);
    return { nonce, expiresIn: ATTEST_CHALLENGE_TTL_MS / 1000 };
  }

  /** Spends the challenge the document carries. @throws KeyholdError KH_ATTEST_LOGIN_CHALLENGE_INVALID */
  #spend(nonce: Uint8Array | undefined, now: number): void {
    const key = nonce === undefined ? undefined : Buffer.from(nonce).toString('hex');
    const expiresAt = key === undefined ? undefined : this.#challenges.get(key);
    if (key !== undefined) this.#challenges.delete(key);
    if (expiresAt === undefined) throw new KeyholdError('KH_ATTEST_LOGIN_CHALLENGE_INVALID', nonce === undefined ? 'the attestation document carries no nonce: put a challenge from /v1/auth/attest/challenge in it' : undefined);
    if (expiresAt <= now) throw new KeyholdError('KH_ATTEST_LOGIN_CHALLENGE_INVALID', 'the challenge has expired (60 s): get a new one');
  }

  /** @throws KeyholdError KH_ATTEST_LOGIN_ROLE_MISMATCH naming what differs (never the expected values) */
  #match(name: string, role: AttestRole, a: NitroAttestation): void {
    const refuse = (why: string) => new KeyholdError('KH_ATTEST_LOGIN_ROLE_MISMATCH', `role ${name}: ${why}`);
    if (role.allowDebug !== true && isDebugEnclave(a)) throw refuse('the enclave runs in debug mode, which the role does not allow');
    if (role.moduleIdPrefix !== undefined && !a.moduleId.startsWith(role.moduleIdPrefix)) throw refuse('the module id does not match');
    const mismatched = Object.entries(role.pcrs ?? {})
      .filter(([i, hex]) => {
        const actual = a.pcrs.get(Number(i));
        return actual === undefined || Buffer.from(actual).toString('hex') !== hex.toLowerCase();
      })
      .map(([i]) => `PCR${i}`);
    if (mismatched.length > 0) throw refuse(`${mismatched.join(', ')} ${mismatched.length === 1 ? 'does' : 'do'} not match`);
  }

  /** The JWK of a signing key in the document's public_key. @throws KeyholdError KH_ATTEST_LOGIN_KEY_UNSUPPORTED */
  async #bindingKey(publicKey: Uint8Array | undefined): Promise<{ jkt: string; jwk: JsonWebKey }> {
    const unsupported = new KeyholdError('KH_ATTEST_LOGIN_KEY_UNSUPPORTED');
    if (publicKey === undefined) throw unsupported;
    let jwk: JsonWebKey;
    try {
      jwk = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    } catch {
      throw unsupported;
    }
    try {
      const key = await parseClientKey(jwk);
      return { jkt: key.jkt, jwk: key.jwk };
    } catch {
      throw unsupported;
    }
  }

  /**
   * Verifies a login and returns the Workload principal to open a session for.
   * The challenge is spent once the document verified, whatever the outcome after.
   * @throws KeyholdError KH_ATTEST_LOGIN_DOCUMENT_INVALID, KH_ATTEST_LOGIN_CHALLENGE_INVALID,
   *   KH_ATTEST_LOGIN_ROLE_MISMATCH, KH_ATTEST_LOGIN_KEY_UNSUPPORTED
   */
  async login(roleName: string, document: Uint8Array, now = Date.now()): Promise<WorkloadLogin> {
    let a: NitroAttestation;
    try {
      a = verifyNitroDocument(document, { trustedRoots: this.#roots, now: new Date(now), maxAgeMs: this.#maxAgeMs });
    } catch (e) {
      if (e instanceof AttestationError) throw new KeyholdError('KH_ATTEST_LOGIN_DOCUMENT_INVALID', `the attestation document does not verify (${e.code})`, { cause: e });
      throw e;
    }
    this.#spend(a.nonce, now);
    const role = Object.hasOwn(this.#roles, roleName) ? this.#roles[roleName] : undefined;
    if (role === undefined) throw new KeyholdError('KH_ATTEST_LOGIN_ROLE_MISMATCH', `no workload role named ${roleName} is configured (auth.attestRoles)`);
    this.#match(roleName, role, a);
    const cnf = await this.#bindingKey(a.publicKey);
    const attrs: Record<string, string | boolean> = { moduleId: a.moduleId, debug: isDebugEnclave(a), role: roleName };
    for (const i of ATTRIBUTE_PCRS) {
      const v = a.pcrs.get(i);
      if (v !== undefined) attrs[`pcr${i}`] = Buffer.from(v).toString('hex');
    }
    return {
      principal: { type: 'Workload', id: roleName, groups: [...(role.groups ?? [])], amr: ['attest'], cnf, attrs },
      tokenTtlSeconds: role.tokenTtlSeconds ?? DEFAULT_WORKLOAD_TOKEN_TTL_SECONDS,
    };
  }
}
