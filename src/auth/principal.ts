/**
 * Who is calling: the identity every authorization decision and audit entry
 * is about. The root token, users, machines (key pair or client
 * certificate) and attested workloads all become one of these; policies see
 * `Keyhold::<type>::"<id>"` with the groups as parents.
 */

import type { JsonWebKey } from 'node:crypto';
export type PrincipalType = 'User' | 'Machine' | 'Workload';

/**
 * What a token is bound to (docs/protocols.md §4 `cnf`): the JWK thumbprint of
 * the key that must sign each request, or the SHA-256 thumbprint of the client
 * certificate the connection must present.
 */
export type Confirmation = { jkt: string; jwk: JsonWebKey } | { 'x5t#S256': string };

export interface Principal {
  readonly type: PrincipalType;
  readonly id: string;
  readonly groups: readonly string[];
  /** RFC 8176 authentication method references, e.g. pwd, otp, mfa, swk, mtls, root. */
  readonly amr: readonly string[];
  /** The session behind an access token; absent for the root token. */
  readonly sid?: string;
  readonly cnf?: Confirmation;
  /** Extra attributes policies may read (workload measurements). */
  readonly attrs?: Readonly<Record<string, string | boolean>>;
}

/**
 * The root token's principal. It counts as multi-factor: a root token exists
 * only after a quorum of unseal-share holders generated it.
 */
export const ROOT_PRINCIPAL: Principal = Object.freeze({ type: 'User', id: 'root', groups: Object.freeze([]), amr: Object.freeze(['root', 'mfa']) });

/** The VSSM API's administrator (src/api/compat/vssm/vssm-auth.ts): whoever knows VSSM's rootPassword. */
export const VSSM_ADMIN_USER_ID = 'vssm-admin';

/**
 * User ids of built-in principals. Policies name principals by id
 * (`Keyhold::User::"root"` is the root token in the default bundle), so a
 * configured admin or stored user of one of these names would be granted
 * whatever the built-in one is (issue 15 L4): they are reserved, compared
 * case-insensitively so a look-alike cannot confuse a reader of the audit log either.
 */
export const RESERVED_USER_IDS: readonly string[] = Object.freeze([ROOT_PRINCIPAL.id, VSSM_ADMIN_USER_ID]);

export function isReservedUserId(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_USER_IDS.includes(lower);
}

export function hasMfa(p: Principal): boolean {
  return p.amr.includes('mfa');
}

/** The token `sub` claim: `<type>:<id>` so a user and a machine of the same name never collide. */
export function subjectOf(p: Pick<Principal, 'type' | 'id'>): string {
  return `${p.type.toLowerCase()}:${p.id}`;
}
