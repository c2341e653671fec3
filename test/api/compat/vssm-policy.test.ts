/**
 * The default bundle's VSSM policies: the out-of-the-box VSSM behaviour
 * (any trusted client may use any key for crypto; the password holder may
 * administer), and nothing more: only on the VSSM surface, only those actions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { request, unsealedBarrier } from '../../policy/policy-fixtures.js';
import { VSSM_ADMIN } from '../../../src/api/compat/vssm/vssm-auth.js';

const CLIENT = { type: 'Machine', id: 'vssm-client:VSSM Client', groups: ['vssm-clients'] } as const;
const ADMIN = { type: VSSM_ADMIN.type, id: VSSM_ADMIN.id, groups: [...VSSM_ADMIN.groups] } as const;
const vssm = { apiSurface: 'vssm', authMethods: ['mtls'] };

test('vssm-clients may encrypt, decrypt, sign, verify and MAC with any key, on the VSSM surface only', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const e = new PolicyEngine(barrier, []);
  for (const action of ['encrypt', 'decrypt', 'sign', 'verify', 'hmac', 'verifyHmac']) {
    assert.deepEqual(await e.authorize(request(CLIENT, action, { type: 'Key', id: 'any-key' }, vssm)), { allowed: true, reasons: ['vssm-clients'] }, action);
    assert.equal((await e.authorize(request(CLIENT, action, { type: 'Key', id: 'any-key' }, { ...vssm, apiSurface: 'v1' }))).allowed, false, `${action} on /v1`);
    assert.equal((await e.authorize(request(CLIENT, action, { type: 'Key', id: 'any-key' }, { ...vssm, apiSurface: 'vault-transit' }))).allowed, false, `${action} on transit`);
  }
  for (const action of ['rewrap', 'generateDataKey', 'exportKey', 'readKey', 'scheduleKeyDeletion', 'importKey'])
    assert.equal((await e.authorize(request(CLIENT, action, { type: 'Key', id: 'k' }, vssm))).allowed, false, action);
  assert.equal((await e.authorize(request(CLIENT, 'createKey', { type: 'System', id: 'keys' }, vssm))).allowed, false);
});

test('vssm-admin may create, import and list keys, back up and restore, read the audit log, on the VSSM surface only', async (t) => {
  const { barrier } = await unsealedBarrier(t);
  const e = new PolicyEngine(barrier, []);
  const ctx = { apiSurface: 'vssm', authMethods: ['pwd'] };
  const allowed: [string, { type: 'Key' | 'System'; id: string }][] = [
    ['createKey', { type: 'System', id: 'keys' }],
    ['importKey', { type: 'Key', id: 'k' }],
    ['listKeys', { type: 'System', id: 'keys' }],
    ['backupKeys', { type: 'System', id: 'keys' }],
    ['restoreKeys', { type: 'System', id: 'keys' }],
    ['readAuditLog', { type: 'System', id: 'audit' }],
  ];
  for (const [action, resource] of allowed) {
    assert.deepEqual(await e.authorize(request(ADMIN, action, resource, ctx)), { allowed: true, reasons: ['vssm-admin'] }, action);
    assert.equal((await e.authorize(request(ADMIN, action, resource, { ...ctx, apiSurface: 'v1' }))).allowed, false, `${action} on /v1`);
  }
  for (const action of ['encrypt', 'decrypt', 'exportKey', 'scheduleKeyDeletion']) assert.equal((await e.authorize(request(ADMIN, action, { type: 'Key', id: 'k' }, ctx))).allowed, false, action);
  assert.equal((await e.authorize(request(ADMIN, 'seal', { type: 'System', id: 'seal' }, ctx))).allowed, false);
  assert.equal((await e.authorize(request(ADMIN, 'pushPolicy', { type: 'System', id: 'policy' }, ctx))).allowed, false);
});
