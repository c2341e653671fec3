import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile, resolveConfig } from '../../src/config/load-config.js';
import { tempDir } from '../helpers/temp-dir.js';

test('an empty configuration is a loopback server on 8080/8081 with SQLite', () => {
  const c = resolveConfig({});
  assert.equal(c.storage.type, 'sqlite');
  assert.equal(c.listeners.api.host, '127.0.0.1');
  assert.equal(c.listeners.api.port, 8080);
  assert.equal(c.listeners.health.port, 8081);
  assert.equal(c.log.level, 'info');
});

test('YAML and JSON files load; env variables override file values', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'k.yaml'), 'storage:\n  path: /var/lib/keyhold/k.db\nlisteners:\n  api:\n    port: 9000\n');
  writeFileSync(join(dir, 'k.json'), JSON.stringify({ listeners: { health: { port: 9001 } } }));
  const y = loadConfigFile(join(dir, 'k.yaml'), {});
  assert.equal(y.storage.path, '/var/lib/keyhold/k.db');
  assert.equal(y.listeners.api.port, 9000);
  const j = loadConfigFile(join(dir, 'k.json'), { KEYHOLD_API_PORT: '9100', KEYHOLD_LOG_LEVEL: 'debug' });
  assert.equal(j.listeners.health.port, 9001);
  assert.equal(j.listeners.api.port, 9100);
  assert.equal(j.log.level, 'debug');
});

test('invalid configurations name the offending field', (t) => {
  const dir = tempDir(t);
  const cases: [unknown, RegExp][] = [
    [{ listeners: { api: { port: 70000 } } }, /listeners\/api\/port/],
    [{ storage: { type: 'oracle' } }, /storage\/type/],
    [{ surprise: true }, /surprise|additional/i],
    [[], /top level/],
    [{ listeners: { api: { tls: { certFile: 'a', keyFile: 'b', requireClientCert: true } } } }, /clientCaFile/],
  ];
  for (const [raw, message] of cases) assert.throws(() => resolveConfig(raw), (e: { code?: string; message?: string }) => e.code === 'KH_CONFIG_INVALID' && message.test(e.message ?? ''), JSON.stringify(raw));
  assert.throws(() => resolveConfig({}, { KEYHOLD_API_PORT: 'eighty' }), /KEYHOLD_API_PORT/);
  writeFileSync(join(dir, 'bad.yaml'), 'storage: [unclosed');
  assert.throws(() => loadConfigFile(join(dir, 'bad.yaml'), {}), { code: 'KH_CONFIG_INVALID' });
  assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), { code: 'KH_CONFIG_INVALID' });
});
