/**
 * Bench server for the VSSM comparison (bench/compat.ts): Keyhold as
 * keyhold-noaudit-server.ts sets it up (no audit log, root token TOKEN) but on
 * TLS with client certificates from PKI_DIR's CA (test/helpers/pki.ts layout)
 * and the VSSM API on (compat.vssm with the given admin password hash), so
 * /v1 and /REST/v1 are measured over the same mTLS connections.
 * Usage: node --import tsx bench/keyhold-mtls-server.ts API_PORT DATA_DIR TOKEN PKI_DIR VSSM_HASH
 */
import { join } from 'node:path';
import { resolveConfig } from '../src/config/load-config.js';
import { handleSignals, startServer } from '../src/api/server.js';
import { RootTokens } from '../src/auth/root-token.js';

const [portArg, dataDir, token, pkiDir, vssmHash] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || dataDir === undefined || token === undefined || pkiDir === undefined || vssmHash === undefined)
  throw new Error('usage: keyhold-mtls-server.ts API_PORT DATA_DIR TOKEN PKI_DIR VSSM_HASH');

const tls = { certFile: join(pkiDir, 'server.crt'), keyFile: join(pkiDir, 'server.key'), clientCaFile: join(pkiDir, 'ca.crt'), requireClientCert: false };
const config = resolveConfig({
  storage: { type: 'sqlite', path: join(dataDir, 'keyhold.db') },
  listeners: { api: { host: '127.0.0.1', port, tls }, health: { host: '127.0.0.1', port: 0 } },
  log: { level: 'silent' },
  compat: { vssm: { rootPassword: vssmHash } },
});
const server = await startServer(config);
handleSignals(server, 10_000);
const { seal } = server.services;
const { shares } = await seal.initialize({ shares: 1, threshold: 1 }, (barrier) => [RootTokens.seedOp(barrier, token)]);
await seal.unseal(shares[0]!);
