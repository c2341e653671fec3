/**
 * The login throttle at a route (auth/login-throttle.ts): the attempt is
 * counted before any credential is checked, and a lock (429 KH_AUTH_LOCKED)
 * or saturated password hashing (503 KH_AUTH_BUSY) carries Retry-After,
 * telling the caller when to come back.
 */
import type { FastifyReply } from 'fastify';
import type { LoginAttempt, LoginThrottle } from '../../../auth/login-throttle.js';

/**
 * Runs `check` (the credential check) as one throttled attempt.
 * @throws KeyholdError KH_AUTH_LOCKED or KH_AUTH_BUSY (with the Retry-After header set on `reply`), or whatever `check` throws
 */
export async function throttledLogin<T>(throttle: LoginThrottle, attempt: LoginAttempt, reply: FastifyReply, check: () => Promise<T>): Promise<T> {
  try {
    return await throttle.attempt(attempt, check);
  } catch (e) {
    throw withRetryAfter(e, reply);
  }
}

/** Refuses a locked caller (Retry-After set), counting nothing. @throws KeyholdError KH_AUTH_LOCKED */
export function checkThrottle(throttle: LoginThrottle, attempt: LoginAttempt, reply: FastifyReply): void {
  try {
    throttle.check(attempt);
  } catch (e) {
    throw withRetryAfter(e, reply);
  }
}

function withRetryAfter(e: unknown, reply: FastifyReply): unknown {
  const retry = (e as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  if (typeof retry === 'number') reply.header('retry-after', String(retry));
  return e;
}
