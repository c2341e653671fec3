/**
 * A running Keyhold serving the VSSM API over real mTLS sockets: a throwaway
 * PKI (test/helpers/pki.ts), listeners.api.tls with the PKI's CA as the
 * client trust store, compat.vssm with an administrator password hashed here
 * with node:crypto in VSSM's format, an audit file; initialised and unsealed.
 * `call` posts protobuf-JSON as VSSM's clients do.
 */
import https from 'node:https';
import { randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { resolveConfig } from '../../../src/config/load-config.js';
import { startServer, type RunningKeyhold } from '../../../src/api/server.js';
import { initVault, unsealVault } from '../../helpers/keyhold.js';
import { makePki, type Pki } from '../../helpers/pki.js';
import { tempDir } from '../../helpers/temp-dir.js';

export const ADMIN_PASSWORD = 'correct horse battery staple';

/**
 * VSSM's scrypt hash ($s0$<hex params>$<b64 salt>$<b64 hash>, params = log2(N) << 16 | r << 8 | p),
 * made with node:crypto. Tests use N = 2^10 to stay fast; VSSM's default is F0801 (N = 2^15).
 */
export function vssmHash(password: string, logN = 10, r = 8, p = 1): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFC'), salt, 32, { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 });
  return `$s0$${((logN << 16) | (r << 8) | p).toString(16)}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export type Identity = 'client' | 'rogue' | 'none';

export function post(url: string, pki: Pki, body: unknown, options: { as?: Identity; contentType?: string; raw?: string; ca?: string | false } = {}): Promise<Answer> {
  const as = options.as ?? 'client';
  const payload = options.raw ?? JSON.stringify(body);
  const cert = as === 'client' ? { cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) } : as === 'rogue' ? { cert: readFileSync(pki.rogueCert), key: readFileSync(pki.rogueKey) } : {};
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        agent: false,
        ...(options.ca === false ? { rejectUnauthorized: false } : { ca: options.ca ?? readFileSync(pki.caCert) }),
        ...cert,
        headers: { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = {};
          }
          resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface VssmVault {
  server: RunningKeyhold;
  pki: Pki;
  dir: string;
  rootToken: string;
  call(path: string, body: unknown, options?: { as?: Identity; contentType?: string; raw?: string }): Promise<Answer>;
  admin(path: string, body?: Record<string, unknown>, password?: string): Promise<Answer>;
}

export async function vssmVault(t: Pick<TestContext, 'after'>, overrides: Record<string, unknown> = {}): Promise<VssmVault> {
  const dir = tempDir(t);
  const pki = makePki(dir);
  const tls = { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert, requireClientCert: false };
  const config = resolveConfig({
    storage: { path: join(dir, 'k.db') },
    listeners: { api: { host: '127.0.0.1', port: 0, tls }, health: { port: 0 } },
    log: { level: 'silent' },
    audit: { file: join(dir, 'audit.log') },
    compat: { vssm: { rootPassword: vssmHash(ADMIN_PASSWORD) } },
    ...overrides,
  });
  const server = await startServer(config, { logger: false });
  t.after(() => server.close());
  const { shares, rootToken } = await initVault(server, 1, 1);
  await unsealVault(server, shares);
  const call = (path: string, body: unknown, options: { as?: Identity; contentType?: string; raw?: string } = {}) => post(`${server.apiUrl}/REST/v1${path}`, pki, body, options);
  const admin = (path: string, body: Record<string, unknown> = {}, password = ADMIN_PASSWORD) => call(`/admin/${path}`, { adminPassword: password, ...body });
  return { server, pki, dir, rootToken, call, admin };
}

export const b64 = (b: Uint8Array | string): string => Buffer.from(b).toString('base64');
