/**
 * Issue 15 L4: the names of built-in principals (the root token's User "root",
 * the VSSM administrator's User "vssm-admin") are reserved: policies name
 * principals by id, so a configured admin or stored user of that name would
 * be granted what the built-in one is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { bearer, unsealedVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const HASH = '$s0$f0801$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

test('L4: auth.admin.username may not be a built-in principal name (any case): a configuration error at start', (t) => {
  const path = join(tempDir(t), 'k.db');
  for (const username of ['root', 'vssm-admin', 'Root', 'VSSM-Admin']) {
    assert.throws(
      () => resolveConfig({ storage: { path }, auth: { admin: { username, passwordHash: HASH } } }),
      (e: { code?: string; message?: string }) => e.code === 'KH_CONFIG_INVALID' && e.message!.includes('auth.admin.username') && e.message!.includes('built-in'),
      username,
    );
  }
  assert.equal(resolveConfig({ storage: { path }, auth: { admin: { username: 'rooted', passwordHash: HASH } } }).auth.admin?.username, 'rooted');
});

test('L4: a user may not be created under a built-in principal name: 400 KH_IDENTITY_NAME_RESERVED', async (t) => {
  const v = await unsealedVault(t);
  for (const name of ['root', 'vssm-admin', 'ROOT', 'Vssm-Admin']) {
    const r = await v.app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(v.rootToken), payload: { name, password: 'a long enough password', groups: [] } });
    assert.deepEqual([r.statusCode, r.json().error.code], [400, 'KH_IDENTITY_NAME_RESERVED'], name);
  }
  const ok = await v.app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: bearer(v.rootToken), payload: { name: 'vssm-admins', password: 'a long enough password', groups: [] } });
  assert.equal(ok.statusCode, 200, ok.body);
});
