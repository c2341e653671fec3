/** The action catalogue and the schema built from it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION_GROUPS, ACTIONS, actionFor, findAction, PUBLIC_OPERATIONS, resourceTypesOf } from '../../src/policy/actions.js';
import { KEYHOLD_SCHEMA, schemaText } from '../../src/policy/cedar-schema.js';

const EXPECTED: Record<string, string[]> = {
  use: ['encrypt', 'decrypt', 'rewrap', 'generateDataKey', 'sign', 'verify', 'hmac', 'verifyHmac', 'deriveSharedSecret', 'encapsulate', 'decapsulate', 'getPublicKey', 'random', 'hash', 'readSecret'],
  read: ['listKeys', 'readKey', 'keyStatus', 'getWrappingKey', 'introspectToken', 'listUsers', 'readUser', 'listMachines', 'readMachine', 'listAccessKeys', 'showPolicy', 'auditHash', 'auditPublicKey', 'readSecretMetadata', 'listSecrets', 'readAuditLog', 'listRootTokens', 'lookupRootTokenSelf'],
  manage: ['createKey', 'updateKey', 'rotateKey', 'enableKey', 'disableKey', 'importKey', 'importKeyVersion', 'exportKey', 'cancelKeyDeletion', 'createUser', 'setUserPassword', 'createMachine', 'createAccessKey', 'enrollTotp', 'confirmTotp', 'renewToken', 'logout', 'writeSecret', 'deleteSecret', 'undeleteSecret', 'writeSecretMetadata', 'backupKeys', 'restoreKeys'],
  destructive: ['trimKey', 'scheduleKeyDeletion', 'changeKeyReleasePolicy', 'seal', 'rotate', 'revokeSessions', 'rotateSigningKey', 'pushPolicy', 'deleteUser', 'deleteMachine', 'deleteAccessKey', 'issueTotpEnrollment', 'destroySecret', 'deleteSecretMetadata', 'changeSecretReleasePolicy', 'revokeRootToken', 'revokeRootTokenSelf'],
};

test('every operation is in exactly the group it belongs to', () => {
  for (const group of ACTION_GROUPS) {
    assert.deepEqual(ACTIONS.filter((a) => a.group === group).map((a) => a.id).sort(), [...EXPECTED[group]!].sort(), group);
  }
  assert.equal(new Set(ACTIONS.map((a) => a.id)).size, ACTIONS.length, 'ids are unique');
  for (const a of ACTIONS) assert.ok(!(ACTION_GROUPS as readonly string[]).includes(a.id), `${a.id} is not also a group name`);
  for (const p of PUBLIC_OPERATIONS) assert.equal(findAction(p), undefined, `${p} is public and has no action`);
});

test('actionFor folds batch variants and refuses unknown operations', () => {
  assert.equal(actionFor('encrypt'), 'encrypt');
  assert.equal(actionFor('encryptBatch'), 'encrypt');
  assert.equal(actionFor('signBatch'), 'sign');
  assert.throws(() => actionFor('frobnicate'), TypeError);
  assert.throws(() => actionFor('Batch'), TypeError);
  assert.throws(() => actionFor('health'), TypeError);
});

test('identity management acts on the identity, self-service on the caller (issue 15 M5, H4)', () => {
  const kinds = Object.fromEntries(ACTIONS.map((a) => [a.id, a.resource]));
  for (const id of ['createUser', 'readUser', 'setUserPassword', 'deleteUser', 'issueTotpEnrollment']) assert.equal(kinds[id], 'User', id);
  for (const id of ['createMachine', 'readMachine', 'deleteMachine']) assert.equal(kinds[id], 'Machine', id);
  for (const id of ['createAccessKey', 'deleteAccessKey']) assert.equal(kinds[id], 'Identity', id);
  for (const id of ['enrollTotp', 'confirmTotp', 'renewToken', 'logout']) assert.equal(kinds[id], 'Self', id);
  assert.deepEqual(resourceTypesOf(findAction('createAccessKey')!), ['User', 'Machine']);
  assert.deepEqual(resourceTypesOf(findAction('logout')!), ['User', 'Machine', 'Workload']);
});

test('key operations apply to Key resources, the rest to System', () => {
  const onKeys = ACTIONS.filter((a) => a.resource === 'Key').map((a) => a.id);
  for (const id of ['encrypt', 'readKey', 'updateKey', 'trimKey', 'scheduleKeyDeletion', 'exportKey', 'importKey']) assert.ok(onKeys.includes(id), id);
  for (const id of ['createKey', 'listKeys', 'random', 'hash', 'seal', 'pushPolicy', 'showPolicy', 'getWrappingKey']) assert.ok(!onKeys.includes(id), id);
});

test('secret operations apply to Secret resources, whose path is an attribute', () => {
  const onSecrets = ACTIONS.filter((a) => a.resource === 'Secret').map((a) => a.id).sort();
  assert.deepEqual(onSecrets, ['changeSecretReleasePolicy', 'deleteSecret', 'deleteSecretMetadata', 'destroySecret', 'listSecrets', 'readSecret', 'readSecretMetadata', 'undeleteSecret', 'writeSecret', 'writeSecretMetadata']);
  assert.match(schemaText(), /entity Secret = \{\s*"?namespace"?: __cedar::String,\s*"?path"?: __cedar::String/);
});

test('the schema declares every action with its group and resource, and groups as plain actions', () => {
  const ns = KEYHOLD_SCHEMA.Keyhold!;
  for (const group of ACTION_GROUPS) assert.deepEqual(ns.actions[group], {}, group);
  for (const a of ACTIONS) {
    const declared = ns.actions[a.id]!;
    assert.deepEqual(declared.memberOf, [{ id: a.group }], a.id);
    assert.deepEqual(declared.appliesTo?.resourceTypes, [...resourceTypesOf(a)], a.id);
    assert.deepEqual(declared.appliesTo?.principalTypes, ['User', 'Machine', 'Workload'], a.id);
  }
  assert.equal(Object.keys(ns.actions).length, ACTIONS.length + ACTION_GROUPS.length);
  const text = schemaText();
  assert.match(text, /entity Workload in \[Group\] = \{/);
  assert.match(text, /sourceIp: __cedar::ipaddr/);
});
