/**
 * Who calls the VSSM API, and may they:
 * - every call needs a client certificate that chained to the configured
 *   trust store (VSSM's clientTrustStore, or listeners.api.tls.clientCaFile);
 *   for the service endpoints it is the caller: Machine
 *   `vssm-client:<subject CN, else the certificate's SHA-256>` in group
 *   `vssm-clients`, amr ["mtls"];
 * - the admin endpoints are called by whoever knows the administrator
 *   password (`adminPassword` in the body, checked against VSSM's scrypt
 *   rootPassword in constant time, throttled like password login): User
 *   `vssm-admin` in group `vssm-admins`, amr ["pwd"];
 * - then Cedar decides, with the action of the equivalent /v1 operation and
 *   context.apiSurface "vssm" (the default bundle's vssm-* policies make the
 *   out-of-the-box behaviour VSSM's).
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import { VSSM_ADMIN_USER_ID, type Principal } from '../../../auth/principal.js';
import { verifyPassword } from '../../../auth/password.js';
import type { LoginThrottle } from '../../../auth/login-throttle.js';
import type { PolicyEngine } from '../../../policy/policy-engine.js';
import { VssmError } from './vssm-shape.js';
import { noteDenial } from '../../denial.js';

export const VSSM_CLIENT_GROUP = 'vssm-clients';
export const VSSM_ADMIN_GROUP = 'vssm-admins';
export const VSSM_ADMIN_ID = VSSM_ADMIN_USER_ID;
const MAX_CN = 200;

const clients = new WeakMap<object, Principal | null>();

/**
 * The principal of a connection's verified client certificate, or undefined
 * (no TLS, no certificate, or one that did not chain to the trust store).
 * Computed once per connection.
 */
export function clientPrincipal(request: FastifyRequest): Principal | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const known = clients.get(socket);
  if (known !== undefined) return known ?? undefined;
  let principal: Principal | null = null;
  if (socket.encrypted === true && socket.authorized === true && typeof socket.getPeerCertificate === 'function') {
    const cert = socket.getPeerCertificate(false);
    if (cert.raw !== undefined) {
      const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN;
      const id = typeof cn === 'string' && cn.length > 0 && cn.length <= MAX_CN ? cn : `sha256:${createHash('sha256').update(cert.raw).digest('hex')}`;
      principal = Object.freeze({ type: 'Machine', id: `vssm-client:${id}`, groups: Object.freeze([VSSM_CLIENT_GROUP]), amr: Object.freeze(['mtls']) });
    }
  }
  clients.set(socket, principal);
  return principal ?? undefined;
}

export const VSSM_ADMIN: Principal = Object.freeze({ type: 'User', id: VSSM_ADMIN_ID, groups: Object.freeze([VSSM_ADMIN_GROUP]), amr: Object.freeze(['pwd']) });

export interface AdminPasswordGate {
  /** VSSM's rootPassword ($s0$...), if configured. */
  readonly hash: string | undefined;
  readonly throttle: LoginThrottle;
}

/**
 * Checks the administrator password, throttled per (account, source address)
 * and per address (auth/login-throttle.ts), the attempt counted before scrypt
 * runs: a wrong one is KH_AUTH_LOGIN_FAILED, answered with VSSM's
 * "Incorrect administrator password.".
 * @throws KeyholdError KH_AUTH_LOCKED while throttled (a locked-out guess costs no scrypt); KH_AUTH_BUSY when password hashing is saturated
 */
export async function checkAdminPassword(gate: AdminPasswordGate, password: string, sourceIp: string | undefined): Promise<Principal> {
  if (gate.hash === undefined)
    throw new VssmError('KH_AUTH_NOT_CONFIGURED', 403, 'the VSSM admin endpoints need an administrator password: set rootPassword (compat.vssm.rootPassword)');
  const hash = gate.hash;
  await gate.throttle.attempt({ account: `user:${VSSM_ADMIN_ID}`, address: sourceIp }, async () => {
    if (!(await verifyPassword(password, hash))) throw new KeyholdError('KH_AUTH_LOGIN_FAILED');
  });
  return VSSM_ADMIN;
}

/** Asks Cedar; @throws KeyholdError KH_AUTH_PERMISSION_DENIED */
export async function authorizeVssm(
  policy: Pick<PolicyEngine, 'authorize'>,
  request: FastifyRequest,
  principal: Principal,
  action: string,
  resource: { type: 'Key' | 'System'; id: string },
): Promise<void> {
  const asked = {
    principal,
    action,
    resource,
    context: { mfa: principal.amr.includes('mfa'), authMethods: principal.amr, sourceIp: request.ip, apiSurface: 'vssm', batch: false, e2e: false },
  };
  const decision = await policy.authorize(asked);
  if (!decision.allowed) {
    // VSSM's own answer stays as it was; the audit entry says which policies decided.
    noteDenial(request, asked, decision);
    throw new KeyholdError('KH_AUTH_PERMISSION_DENIED');
  }
}
