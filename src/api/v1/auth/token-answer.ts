/** Turns a new session into the login answer: a first access token and what it is bound to. */
import type { AccessTokens } from '../../../auth/access-tokens.js';
import { cnfClaim } from '../../../auth/access-tokens.js';
import type { Session } from '../../../auth/sessions.js';

export async function tokenAnswer(accessTokens: AccessTokens, session: Session) {
  const { token, expiresAt } = await accessTokens.issue(session);
  const boundTo = cnfClaim(session.cnf);
  return {
    accessToken: token,
    tokenType: 'Bearer' as const,
    expiresIn: Math.max(0, Math.round((expiresAt - Date.now()) / 1000)),
    sessionId: session.sid,
    ...(boundTo === undefined ? {} : { boundTo }),
  };
}
