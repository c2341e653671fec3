/**
 * Vault's two request forms on one route: a single item in the body, or
 * `batch_input: [...]` answered by `batch_results` in the same order, each
 * result the item's output or `{ error }`, with `reference` echoed. As Vault:
 * any failed item makes the answer 400 (the results still in `data`) unless
 * `partial_failure_response_code` is set and something succeeded; key-level
 * problems (absent, disabled) fail the whole request; 5xx failures are thrown.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toKeyholdError } from '../../error-handler.js';
import { MAX_BATCH_ITEMS } from '../../v1/operation-route.js';
import { badRequest, envelope, vaultFailure } from './vault-shape.js';

export interface BatchBody<I> {
  batch_input?: I[] | undefined;
  partial_failure_response_code?: number | undefined;
}

export type BatchResult = Record<string, unknown>;

/**
 * Runs `one` on the body itself, or on every item of its batch_input.
 * @param check key-level checks run once before a batch (usable key)
 */
export async function runItems<I extends { reference?: string | undefined }>(
  request: FastifyRequest,
  reply: FastifyReply,
  body: I & BatchBody<I>,
  one: (item: I) => Promise<BatchResult> | BatchResult,
  check: () => Promise<void> | void,
): Promise<unknown> {
  const batch = body.batch_input;
  if (batch === undefined) return envelope(request, await one(body));
  if (batch.length === 0) throw badRequest('missing batch input to process', 'KH_BATCH_EMPTY');
  if (batch.length > MAX_BATCH_ITEMS) throw badRequest(`batch_input holds at most ${MAX_BATCH_ITEMS} items`, 'KH_BATCH_TOO_LARGE');
  await check();
  const results: BatchResult[] = [];
  let failed = 0;
  for (const item of batch) {
    const reference = item.reference ?? '';
    try {
      results.push({ ...(await one(item)), reference });
    } catch (e) {
      const kh = toKeyholdError(e);
      if (kh.status >= 500) throw e;
      failed++;
      results.push({ error: vaultFailure(kh, request).errors[0] ?? kh.message, reference });
    }
  }
  const answer = envelope(request, { batch_results: results });
  if (failed === 0) return answer;
  const partial = body.partial_failure_response_code;
  const status = partial !== undefined && failed < results.length ? partial : 400;
  // Serialised as is: the 4xx schema of the route is the error shape, and this answer is not one.
  return reply.code(status).serializer(JSON.stringify).send(answer);
}
