/**
 * Shared by the bad-input fuzzers of test/api: inject() with a deadline, so a
 * request that never answers fails the property that sent it instead of
 * hanging the whole run until the test timeout.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { KeyholdApp } from '../../src/api/keyhold-app.js';

/** inject() that rejects with "no answer within `ms` ms: METHOD url" when `app` does not answer in time. */
export async function injectWithin(app: KeyholdApp, options: InjectOptions, ms: number): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${String(options.method)} ${String(options.url).slice(0, 200)}`)), ms);
  });
  try {
    return await Promise.race([app.api.inject(options), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
