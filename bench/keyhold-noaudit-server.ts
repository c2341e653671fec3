/**
 * Diagnostic server for bench/keys-http.ts: Keyhold as `server --dev` starts
 * it (src/cli/dev-mode.ts: SQLite file in DATA_DIR, initialised with one
 * share, unsealed, root token TOKEN, log level silent), but WITHOUT the audit
 * log, which dev mode always enables. Comparing it with the real dev server
 * in the same run isolates what auditing costs per request.
 *
 * With --authz-off (bench/authz.ts), the policy engine's authorize() is
 * replaced on this instance, after startServer, by one that allows
 * everything: the gates call it as a method of the same object
 * (src/api/hooks.ts), so authentication still runs and only the Cedar
 * decision is skipped. This exists in the bench process only; src/ has no
 * such switch. With --authz-toggle, each SIGUSR2 flips between the two, so
 * one process can serve both (no process-to-process variance in a
 * comparison); it starts with authorization on unless --authz-off is given.
 * Usage: node --import tsx bench/keyhold-noaudit-server.ts API_PORT DATA_DIR TOKEN [--authz-off] [--authz-toggle]
 */
import { join } from 'node:path';
import { resolveConfig } from '../src/config/load-config.js';
import { handleSignals, startServer } from '../src/api/server.js';
import { RootTokens } from '../src/auth/root-token.js';

const [portArg, dataDir, token, ...flags] = process.argv.slice(2);
const port = Number(portArg);
const FLAGS = ['--authz-off', '--authz-toggle'];
if (!Number.isInteger(port) || port <= 0 || dataDir === undefined || token === undefined || flags.some((f) => !FLAGS.includes(f)))
  throw new Error('usage: keyhold-noaudit-server.ts API_PORT DATA_DIR TOKEN [--authz-off] [--authz-toggle]');

const config = resolveConfig({
  storage: { type: 'sqlite', path: join(dataDir, 'keyhold.db') },
  listeners: { api: { host: '127.0.0.1', port }, health: { host: '127.0.0.1', port: 0 } },
  log: { level: 'silent' },
});
const server = await startServer(config);
{
  const { policy } = server.services;
  const shipped = policy.authorize.bind(policy);
  const allowAll: typeof shipped = async () => ({ allowed: true, reasons: [] });
  let off = flags.includes('--authz-off');
  // Without flags the engine is left exactly as shipped. With --authz-toggle
  // both states are own properties, so the object's shape does not change.
  if (off || flags.includes('--authz-toggle')) policy.authorize = off ? allowAll : shipped;
  if (flags.includes('--authz-toggle')) {
    process.on('SIGUSR2', () => {
      off = !off;
      policy.authorize = off ? allowAll : shipped;
    });
  }
}
handleSignals(server, 10_000);
const { seal } = server.services;
const { shares } = await seal.initialize({ shares: 1, threshold: 1 }, (barrier) => [RootTokens.seedOp(barrier, token)]);
await seal.unseal(shares[0]!);
