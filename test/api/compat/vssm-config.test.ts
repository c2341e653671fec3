/**
 * VSSM's config.json, accepted as is: the example from VSSM's README parses,
 * the lookup is VSSM's (./config.json, then /etc/vssm/config.json), a bad
 * file names the field, and the translation into Keyhold's compat.vssm
 * section is checked against the API port's TLS settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findVssmConfig, parseVssmConfig, pemCertificate, vssmServerDefaults } from '../../../src/config/vssm-config.js';
import { resolveConfig } from '../../../src/config/load-config.js';
import { parseScryptHash } from '../../../src/auth/password.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { fixturePath } from '../../helpers/vectors.js';
import { X509Certificate } from 'node:crypto';

/** The example config.json of VSSM's README, verbatim (origin in fixtures/README.md). */
function readmeExample(): string {
  return readFileSync(fixturePath(import.meta.url, 'fixtures/vssm-readme-config.json'), 'utf8');
}

test("the example config.json of VSSM's README is accepted as is", () => {
  const vssm = parseVssmConfig(readmeExample());
  assert.equal(new X509Certificate(Buffer.from(vssm.rpcCertificate!, 'base64')).subject, 'CN=VSSM');
  assert.equal(vssm.clientTrustStore.length, 1);
  assert.equal(new X509Certificate(pemCertificate(vssm.clientTrustStore[0]!)).subject, 'CN=VSSM Client CA');
  assert.deepEqual({ ...parseScryptHash(vssm.rootPassword!), salt: undefined, hash: undefined }, { N: 32768, r: 8, p: 1, salt: undefined, hash: undefined });
  // Served on VSSM's ports on every interface: TLS comes from rpcCertificate, so that is allowed.
  const config = resolveConfig(vssmServerDefaults(vssm));
  assert.equal(config.listeners.api.host, '0.0.0.0');
  assert.equal(config.listeners.api.port, 8080);
  assert.equal(config.listeners.health.port, 8081);
  assert.deepEqual(config.compat.vssm, vssm);
});

test('VSSM config lookup: ./config.json, else /etc/vssm/config.json, else an error', () => {
  assert.equal(findVssmConfig((p) => p === 'config.json' || p === '/etc/vssm/config.json'), 'config.json');
  assert.equal(findVssmConfig((p) => p === '/etc/vssm/config.json'), '/etc/vssm/config.json');
  assert.throws(() => findVssmConfig(() => false), { code: 'KH_CONFIG_INVALID', message: /neither \.\/config\.json nor \/etc\/vssm\/config\.json/ });
});

test('a bad VSSM config names what is wrong', () => {
  const good = JSON.parse(readmeExample()) as Record<string, unknown>;
  const cases: [unknown, RegExp][] = [
    ['not json', /not JSON/],
    [[], /top level/],
    [{ ...good, rpcCertificate: 'AAAA' }, /rpcCertificate is not an X\.509 certificate/],
    [{ ...good, rpcCertificate: 7 }, /rpcCertificate must be base64 DER/],
    [{ ...good, clientTrustStore: [] }, /clientTrustStore must be a non-empty array/],
    [{ ...good, clientTrustStore: ['@@'] }, /clientTrustStore\[0\] must be base64 DER/],
    [{ ...good, rootPassword: 'hunter2' }, /rootPassword must be an scrypt hash/],
  ];
  for (const [raw, message] of cases) assert.throws(() => parseVssmConfig(typeof raw === 'string' ? raw : JSON.stringify(raw)), { code: 'KH_CONFIG_INVALID', message }, String(message));
});

test("compat.vssm and the API port's TLS must agree", () => {
  const vssm = parseVssmConfig(readmeExample());
  const tls = { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem' };
  assert.throws(() => resolveConfig({ listeners: { api: { tls } }, compat: { vssm } }), /rpcCertificate serves the API port: remove listeners\.api\.tls/);
  assert.throws(() => resolveConfig({ compat: { vssm: { rpcCertificate: vssm.rpcCertificate } } }), /needs compat\.vssm\.clientTrustStore/);
  assert.throws(() => resolveConfig({ compat: { vssm: { clientTrustStore: vssm.clientTrustStore } } }), /clientTrustStore needs compat\.vssm\.rpcCertificate/);
  assert.throws(() => resolveConfig({ compat: { vssm: {} } }), /needs client certificates/);
  assert.throws(() => resolveConfig({ compat: { vssm: { rootPassword: 'x' } } }), /rootPassword is not an scrypt hash/);
  // Without rpcCertificate the VSSM API rides on listeners.api.tls with its client CA; loopback without TLS stays refused elsewhere.
  assert.equal(resolveConfig({ listeners: { api: { tls } }, compat: { vssm: { rootPassword: vssm.rootPassword } } }).compat.vssm?.rootPassword, vssm.rootPassword);
  assert.throws(() => resolveConfig({ listeners: { api: { host: '0.0.0.0' } } }), /listeners\.api\.tls is required/);
});

test('keyhold server --vssm-config FILE refuses a broken file before listening', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'vssm.json');
  writeFileSync(file, JSON.stringify({ ...(JSON.parse(readmeExample()) as object), rootPassword: 'plain' }));
  const r = await runCli(['server', '--vssm-config', file, '--api-port', '0', '--health-port', '0'], { KEYHOLD_STORAGE_PATH: join(dir, 'k.db') });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /invalid VSSM configuration .*vssm\.json: rootPassword must be an scrypt hash/);
});
