/**
 * What a caller refused by policy is told, and what the audit log keeps.
 *
 * The caller learns which condition failed only in terms it already holds:
 * the action it asked for and the key name or secret path it sent itself
 * (the same answer whether that object exists or not, since the gate runs
 * before any lookup), or, to a user with a second factor enrolled whose
 * session lacks it, that the second factor would change the answer.
 * Never the policy text or ids, other principals' names, or the identity an
 * identity route resolved (it may be another user, e.g. an access key's
 * owner). The determining policy ids go to the "refused" audit entry
 * (audit-hooks.ts), where an operator reads why.
 */
import type { FastifyRequest } from 'fastify';
import { KeyholdError } from '../errors.js';
import { decisionDetail, type AuthorizationRequest, type Decision, type PolicyEngine } from '../policy/policy-engine.js';

/** The facts of a policy refusal, kept on the request for the audit entry. */
export interface PolicyDenial {
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
  /** Ids of the forbids that decided it; empty when no permit matched (Cedar's default deny). */
  readonly policies: readonly string[];
  /** Ids of policies whose evaluation failed (any failure denies). */
  readonly errored: readonly string[];
  /** The same request with a second factor would be allowed. */
  readonly needsMfa: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    policyDenial?: PolicyDenial;
  }
}

/** As the caller sent it, quoted (a JSON string, so no control character reaches a terminal) and bounded. */
const quoted = (id: string): string => JSON.stringify(id.length > 256 ? `${id.slice(0, 256)}...` : id);

function describe(resource: AuthorizationRequest['resource']): string {
  switch (resource.type) {
    case 'Key':
      return `key ${quoted(resource.id)}`;
    case 'Secret':
      return `secret path ${quoted(resource.id)}`;
    case 'System':
      return `System ${quoted(resource.id)}`;
    default:
      // An identity the route resolved: possibly not one the caller named.
      return 'the identity this request acts on';
  }
}

/**
 * Keeps why policy refused `asked` on the request, for the "refused" audit
 * entry. Surfaces that answer in their peer's shape (AWS KMS, VSSM) call
 * this and keep their peer's message.
 */
export function noteDenial(request: FastifyRequest, asked: AuthorizationRequest, decision: Decision, needsMfa = false): void {
  const detail = decisionDetail(decision);
  request.policyDenial = {
    action: asked.action,
    resource: { type: asked.resource.type, id: asked.resource.id },
    policies: detail?.determining ?? [],
    errored: detail?.errored ?? [],
    needsMfa,
  };
}

/** Whether a user has a confirmed second factor (Totp.required). */
export type SecondFactorEnrolled = (user: string) => Promise<boolean>;

/**
 * The KH_AUTH_PERMISSION_DENIED for a refused `asked`. A user without a
 * second factor in this session is told that one would be enough only when
 * that user has one enrolled: then the hint is what the legitimate user needs
 * (a session opened before enrolment). Anyone else, such as a stolen
 * password's holder on an account with no second factor, gets the plain
 * denial, so a password alone cannot probe which actions MFA would unlock.
 * The audit entry keeps needsMfa either way. The second decision costs one
 * more evaluation, only on a refusal of an authenticated user; the enrolment
 * read only when that decision says a second factor would be enough.
 */
export async function policyDenied(
  policy: Pick<PolicyEngine, 'authorize'>,
  request: FastifyRequest,
  asked: AuthorizationRequest,
  decision: Decision,
  secondFactorEnrolled?: SecondFactorEnrolled,
): Promise<KeyholdError> {
  const detail = decisionDetail(decision);
  let needsMfa = false;
  if (!asked.context.mfa && asked.principal.type === 'User' && detail?.requestError !== true) {
    needsMfa = (await policy.authorize({ ...asked, context: { ...asked.context, mfa: true, authMethods: [...asked.context.authMethods, 'otp', 'mfa'] } })).allowed;
  }
  noteDenial(request, asked, decision, needsMfa);
  const hint = needsMfa && secondFactorEnrolled !== undefined && (await secondFactorEnrolled(asked.principal.id));
  return new KeyholdError(
    'KH_AUTH_PERMISSION_DENIED',
    hint
      ? `${asked.action} on ${describe(asked.resource)} needs a second factor: log in with your one-time code (otp), then retry`
      : `policy denies ${asked.action} on ${describe(asked.resource)}`,
  );
}
