/**
 * Review finding 4 (issue 15): behind a reverse proxy every login came from
 * the proxy's address, so one stranger's failures locked every user out.
 * listeners.api.trustProxy names the proxies whose X-Forwarded-For is
 * believed; nobody else can choose the address they are counted under.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { hashPassword } from '../../src/auth/password.js';
import { initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const PASSWORD = 'correct horse battery staple';
const PROXY = '10.0.0.5';

async function vault(t: TestContext, trustProxy: string[] | undefined) {
  const passwordHash = await hashPassword(PASSWORD);
  const config = resolveConfig({
    storage: { path: join(tempDir(t), 'k.db') },
    log: { level: 'silent' },
    auth: { admin: { username: 'ops', passwordHash } },
    ...(trustProxy === undefined ? {} : { listeners: { api: { trustProxy } } }),
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  const login = (remoteAddress: string, forwardedFor: string | undefined, password: string) =>
    app.api.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress, payload: { username: 'ops', password }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });
  return { app, login };
}

test('trusted proxy: the client address from X-Forwarded-For is throttled, so a stranger behind the proxy does not lock the owner behind it', async (t) => {
  const { login } = await vault(t, ['10.0.0.0/24']);
  // The stranger spoofs a leftmost entry; the proxy appends the real peer, which is what is counted.
  for (let i = 0; i < 6; i++) await login(PROXY, '198.51.100.1, 203.0.113.66', 'guess');
  const stranger = await login(PROXY, '198.51.100.1, 203.0.113.66', 'guess');
  assert.equal(stranger.statusCode, 429);
  assert.equal(stranger.json().error.code, 'KH_AUTH_LOCKED');
  const owner = await login(PROXY, '192.0.2.10', PASSWORD);
  assert.equal(owner.statusCode, 200, owner.body);
  // The spoofed leftmost address was never the one counted.
  const spoofed = await login(PROXY, '198.51.100.1', PASSWORD);
  assert.equal(spoofed.statusCode, 200, spoofed.body);
});

test('untrusted peer: X-Forwarded-For is ignored, the TCP peer is the client (default: no proxy trusted)', async (t) => {
  const { login } = await vault(t, undefined);
  for (let i = 0; i < 6; i++) await login('203.0.113.66', `192.0.2.${i}`, 'guess');
  // Rotating the header did not escape the lock: the peer address was counted.
  const locked = await login('203.0.113.66', '192.0.2.99', PASSWORD);
  assert.equal(locked.statusCode, 429);
  assert.equal(locked.json().error.code, 'KH_AUTH_LOCKED');
  // And the header cannot frame someone else: the owner claimed in it is not locked.
  const owner = await login('192.0.2.10', undefined, PASSWORD);
  assert.equal(owner.statusCode, 200, owner.body);
});

test('a peer outside the trusted list cannot use X-Forwarded-For either', async (t) => {
  const { login } = await vault(t, ['10.0.0.0/24']);
  for (let i = 0; i < 6; i++) await login('203.0.113.66', `192.0.2.${i}`, 'guess');
  const locked = await login('203.0.113.66', '192.0.2.99', PASSWORD);
  assert.equal(locked.statusCode, 429);
});

test('listeners.api.trustProxy refuses an entry that is not an address or CIDR', () => {
  assert.throws(() => resolveConfig({ listeners: { api: { trustProxy: ['proxy.example'] } } }));
});
