/**
 * The database file and its WAL must not contain names, tokens or shares in
 * the clear: named objects live at HMAC paths with the name only inside the
 * encrypted record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { bearer, initVault, testVault, unsealVault } from '../helpers/keyhold.js';

function fileContains(path: string, needle: string): boolean {
  if (!existsSync(path)) return false;
  const data = readFileSync(path);
  return data.includes(Buffer.from(needle, 'utf8')) || data.includes(Buffer.from(needle, 'utf16le'));
}

test('no key name, secret name, identity, token or share appears in the database file or WAL', async (t) => {
  const { app, dbPath } = await testVault(t);
  const { shares, rootToken } = await initVault(app, 3, 2);
  await unsealVault(app, shares.slice(0, 2));
  await app.api.inject({ method: 'POST', url: '/v1/sys/rotate', headers: bearer(rootToken) });

  // Named objects as the keys/secrets/identity layers store them: HMAC path, name inside the record.
  const names = ['payments-signing-key', 'db-password-prod', 'alice@example.com'];
  const view = app.services.barrier.view('test-objects/');
  for (const [i, name] of names.entries()) {
    const ns = ['key', 'secret', 'identity'][i]!;
    await view.put(view.indexPath(ns, name), new TextEncoder().encode(JSON.stringify({ name, material: 'x'.repeat(32) })));
  }

  const secrets = [...names, rootToken, rootToken.slice(4), ...shares];
  for (const file of [dbPath, `${dbPath}-wal`]) {
    for (const s of secrets) assert.equal(fileContains(file, s), false, `${s} found in ${file}`);
  }
  // The WAL was really written to (the check is not vacuous).
  assert.ok(existsSync(`${dbPath}-wal`) && readFileSync(`${dbPath}-wal`).length > 0);
  await app.close();
  for (const s of secrets) assert.equal(fileContains(dbPath, s), false, `${s} found after checkpoint`);
});
