/** The login throttle at a route: a locked key is refused with Retry-After, telling the caller when to come back. */
import type { FastifyReply } from 'fastify';
import type { LoginThrottle } from '../../../auth/login-throttle.js';

/** @throws KeyholdError KH_AUTH_LOCKED (with the Retry-After header set on `reply`) */
export function checkThrottle(throttle: LoginThrottle, keys: string[], reply: FastifyReply): void {
  try {
    throttle.check(keys);
  } catch (e) {
    const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retry !== undefined) reply.header('retry-after', String(retry));
    throw e;
  }
}
