/**
 * PolicyEngine.authorize() per decision, in-process, against the default
 * bundle, measured (not asserted):
 *
 *   baseline   an empty async function awaited the same way (the loop's own cost)
 *   cache hit  the same request again and again (key building + Map lookup)
 *   cache miss a new principal id every call, so Cedar decides each time
 *              (entity slice + statefulIsAuthorized on the pre-parsed set)
 *   cache miss, 1000-entity bundle
 *              the same after pushing a bundle declaring 1000 users in 50
 *              groups: the entity slice keeps the cost independent of the
 *              bundle's size (passing all 1000 costs ~12 ms a decision)
 *
 * Cedar's wasm tiers up slowly: the first ~2000 decisions are ~10x slower, so
 * every case warms up before it is timed. Each case reports the median of
 * BENCH_POLICY_ROUNDS (5) rounds of BENCH_POLICY_MS (300) ms.
 *
 * Standalone: node --import tsx bench/policy-authorize.ts
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Barrier } from '../src/barrier/barrier.js';
import { SqliteBackend } from '../src/storage/sqlite-backend.js';
import { PolicyEngine, type AuthorizationRequest } from '../src/policy/policy-engine.js';
import { signBundle } from '../src/policy/bundle.js';

const ROUND_MS = Number(process.env.BENCH_POLICY_MS ?? 300);
const ROUNDS = Number(process.env.BENCH_POLICY_ROUNDS ?? 5);

const DEFAULT_LIKE = 'permit(principal in Keyhold::Group::"admins", action, resource);';

function request(id: string, sourceIp = '10.1.2.3'): AuthorizationRequest {
  return {
    principal: { type: 'User', id, groups: ['admins'] },
    action: 'encrypt',
    resource: { type: 'Key', id: 'payments' },
    context: { mfa: false, authMethods: ['pwd'], sourceIp, apiSurface: 'v1', batch: false },
  };
}

/** Median µs per call of `f` over the rounds (calls in batches of 100 between clock reads). */
async function measure(f: (i: number) => Promise<unknown>): Promise<number> {
  const perRound: number[] = [];
  let i = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ROUND_MS) {
      for (let k = 0; k < 100; k++) await f(i++);
      n += 100;
      now = performance.now();
    }
    perRound.push(((now - start) * 1000) / n);
  }
  perRound.sort((a, b) => a - b);
  return perRound[Math.floor(perRound.length / 2)]!;
}

async function main(): Promise<void> {
  const backend = new SqliteBackend({ path: ':memory:' });
  const barrier = new Barrier(backend);
  await backend.transaction([barrier.createKeyring(new Uint8Array(randomBytes(32)))]);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const engine = new PolicyEngine(barrier, [{ kid: 'bench', publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }], { cacheLimit: 10_000_000 });

  const empty = async (_i: number): Promise<unknown> => undefined;
  const same = request('alice');
  const hit = (_i: number) => engine.authorize(same);
  const miss = (i: number) => engine.authorize(request(`user-${i}`));

  // Warm-up: JIT for the JS, tier-up for Cedar's wasm.
  for (let i = 0; i < 5000; i++) await miss(-1 - i);
  await measure(hit);

  const results = { baseline: await measure(empty), hit: await measure(hit), miss: await measure(miss), bigMiss: 0 };
  const decision = await engine.authorize(same);

  const entities = Array.from({ length: 1000 }, (_, i) => ({ uid: { type: 'Keyhold::User', id: `user-${i}` }, attrs: {}, parents: [{ type: 'Keyhold::Group', id: `team-${i % 50}` }] }));
  const policies = `${DEFAULT_LIKE}\npermit(principal in Keyhold::Group::"team-7", action in Keyhold::Action::"use", resource == Keyhold::Key::"payments");`;
  const bytes = new TextEncoder().encode(JSON.stringify({ version: 1, issuedAt: new Date().toISOString(), policies, entities }));
  await engine.push(bytes, await signBundle(bytes, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'bench'));
  for (let i = 0; i < 2000; i++) await engine.authorize(request(`user-${i % 1000}`));
  // Declared users (their parents come from the bundle); a new source address each call defeats the cache.
  results.bigMiss = await measure((i) => engine.authorize(request(`user-${i % 1000}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)));
  console.log(`policy authorize (default bundle, decision ${decision.allowed ? 'allow' : 'deny'} by ${decision.reasons.join(', ')}):`);
  console.log(`  baseline (empty async fn)  ${results.baseline.toFixed(2)} µs/call`);
  console.log(`  cache hit                  ${results.hit.toFixed(2)} µs/decision  (${(results.hit - results.baseline).toFixed(2)} µs over baseline)`);
  console.log(`  cache miss (Cedar)         ${results.miss.toFixed(1)} µs/decision`);
  console.log(`  cache miss, 1000 entities  ${results.bigMiss.toFixed(1)} µs/decision`);
  await backend.close();
}

await main();
