/**
 * Diagnostic server for bench/keys-http.ts: Keyhold as `server --dev` starts
 * it (src/cli/dev-mode.ts: SQLite file in DATA_DIR, initialised with one
 * share, unsealed, root token TOKEN, log level silent), but WITHOUT the audit
 * log, which dev mode always enables. Comparing it with the real dev server
 * in the same run isolates what auditing costs per request.
 * Usage: node --import tsx bench/keyhold-noaudit-server.ts API_PORT DATA_DIR TOKEN
 */
import { join } from 'node:path';
import { resolveConfig } from '../src/config/load-config.js';
import { handleSignals, startServer } from '../src/api/server.js';
import { RootTokens } from '../src/auth/root-token.js';

const [portArg, dataDir, token] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || dataDir === undefined || token === undefined) throw new Error('usage: keyhold-noaudit-server.ts API_PORT DATA_DIR TOKEN');

const config = resolveConfig({
  storage: { type: 'sqlite', path: join(dataDir, 'keyhold.db') },
  listeners: { api: { host: '127.0.0.1', port }, health: { host: '127.0.0.1', port: 0 } },
  log: { level: 'silent' },
});
const server = await startServer(config);
handleSignals(server, 10_000);
const { seal } = server.services;
const { shares } = await seal.initialize({ shares: 1, threshold: 1 }, (barrier) => [RootTokens.seedOp(barrier, token)]);
await seal.unseal(shares[0]!);
