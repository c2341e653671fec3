/**
 * The action catalogue: every authenticated API operation is one Cedar action
 * `Keyhold::Action::"<operationId>"`, and belongs to exactly one group action
 * (`use`, `read`, `manage`, `destructive`), so a policy can say
 * `action in Keyhold::Action::"destructive"`. Batch routes (`encryptBatch`)
 * ask about their single form with `context.batch = true`.
 *
 * `resource` is the resource type the action applies to (cedar-schema.ts
 * builds `appliesTo` from it): `Key` for routes under /v1/keys/:name, `System`
 * for the rest, with the System id naming the area (see SYSTEM_IDS).
 * `Secret` actions act on the secret path in the URL (src/api/v1/secrets/);
 * `listSecrets` on the folder listed ("" for the top).
 * Identity management acts on the identity it changes (`User`, `Machine`, or
 * `Identity` = either, for access keys), whose groups are its Cedar parents,
 * so a helpdesk policy can say `unless { resource in Group::"admins" }`; the
 * caller's own session and account (`Self`: renew, logout, TOTP) are asked
 * about the caller itself as the resource. No route skips the policy.
 *
 * Every action here is asked by some route or code path, and a bundle naming
 * any other action is refused at push (KH_POLICY_ACTION_UNKNOWN):
 * test/policy/every-action-asked.test.ts keeps the two in step.
 */

export const ACTION_GROUPS = ['use', 'read', 'manage', 'destructive'] as const;
export type ActionGroup = (typeof ACTION_GROUPS)[number];

export const SYSTEM_IDS = ['seal', 'audit', 'auth', 'policy', 'tools', 'keys'] as const;
/** Ids of `Keyhold::System` resources: the area of the system a route acts on ("keys" = the key collection: list, create, import). */
export type SystemId = (typeof SYSTEM_IDS)[number];

export type ResourceType = 'Key' | 'Secret' | 'System' | 'User' | 'Machine' | 'Workload';
/** What an action acts on: one resource type, `Identity` (a User or a Machine) or `Self` (the caller's own identity, any principal type). */
export type ResourceKind = 'Key' | 'Secret' | 'System' | 'User' | 'Machine' | 'Identity' | 'Self';

export interface ActionDef {
  /** The operationId, also the Cedar action id. */
  readonly id: string;
  readonly group: ActionGroup;
  readonly resource: ResourceKind;
}

const KIND_TYPES: Readonly<Record<ResourceKind, readonly ResourceType[]>> = Object.freeze({
  Key: ['Key'],
  Secret: ['Secret'],
  System: ['System'],
  User: ['User'],
  Machine: ['Machine'],
  Identity: ['User', 'Machine'],
  Self: ['User', 'Machine', 'Workload'],
});

/** The Cedar resource types an action applies to. */
export function resourceTypesOf(action: ActionDef): readonly ResourceType[] {
  return KIND_TYPES[action.resource];
}

const def = (group: ActionGroup, resource: ResourceKind, ids: readonly string[]): ActionDef[] => ids.map((id) => Object.freeze({ id, group, resource }));

/** Every action, in catalogue order. */
export const ACTIONS: readonly ActionDef[] = Object.freeze([
  ...def('use', 'Key', ['encrypt', 'decrypt', 'rewrap', 'generateDataKey', 'sign', 'verify', 'hmac', 'verifyHmac', 'deriveSharedSecret', 'encapsulate', 'decapsulate', 'getPublicKey']),
  ...def('use', 'System', ['random', 'hash']),
  ...def('read', 'Key', ['readKey']),
  ...def('read', 'System', ['listKeys', 'keyStatus', 'getWrappingKey', 'introspectToken', 'listUsers', 'listMachines', 'listAccessKeys', 'showPolicy', 'auditHash', 'auditPublicKey']),
  // Listings show only the items the caller may read (readKey, readUser, readMachine, readSecretMetadata per item).
  ...def('read', 'User', ['readUser']),
  ...def('read', 'Machine', ['readMachine']),
  ...def('manage', 'Key', ['updateKey', 'rotateKey', 'enableKey', 'disableKey', 'importKey', 'importKeyVersion', 'exportKey', 'cancelKeyDeletion']),
  ...def('manage', 'System', ['createKey']),
  ...def('manage', 'User', ['createUser', 'setUserPassword']),
  ...def('manage', 'Machine', ['createMachine']),
  ...def('manage', 'Identity', ['createAccessKey']),
  // The caller's own account: a default-bundle policy permits them when resource == principal.
  ...def('manage', 'Self', ['enrollTotp', 'confirmTotp', 'renewToken', 'logout']),
  // The VSSM admin API (src/api/compat/vssm/): its audit log reading, and key backups wrapped to the transport key.
  ...def('read', 'System', ['readAuditLog']),
  ...def('manage', 'System', ['backupKeys', 'restoreKeys']),
  // Removing or replacing a release policy (adding one to a key without is an updateKey): it is what keeps key material inside attested workloads.
  ...def('destructive', 'Key', ['trimKey', 'scheduleKeyDeletion', 'changeKeyReleasePolicy']),
  ...def('use', 'Secret', ['readSecret']),
  ...def('read', 'Secret', ['readSecretMetadata', 'listSecrets']),
  ...def('manage', 'Secret', ['writeSecret', 'deleteSecret', 'undeleteSecret', 'writeSecretMetadata']),
  ...def('destructive', 'Secret', ['destroySecret', 'deleteSecretMetadata', 'changeSecretReleasePolicy']),
  ...def('destructive', 'System', ['seal', 'rotate', 'revokeSessions', 'rotateSigningKey', 'pushPolicy']),
  // Root tokens (src/api/sys/root-token-routes.ts): listed by accessor, revoked by the token itself or by accessor.
  ...def('read', 'System', ['listRootTokens', 'lookupRootTokenSelf']),
  ...def('destructive', 'System', ['revokeRootToken', 'revokeRootTokenSelf']),
  ...def('destructive', 'User', ['deleteUser']),
  ...def('destructive', 'Machine', ['deleteMachine']),
  ...def('destructive', 'Identity', ['deleteAccessKey']),
  // An enrolment code lets a password-only session enrol a second factor: issuing one is as strong as the factor itself.
  ...def('destructive', 'User', ['issueTotpEnrollment']),
]);

/**
 * Operations that are public (auth 'none') and so never reach the policy
 * engine: status, health, init, unseal, the logins and the JWKS; rekey and
 * generate-root, which a quorum of unseal shares authorises, as in Vault
 * (they had catalogue actions that no route asked: a policy about them would
 * have been a rule nobody enforced).
 */
export const PUBLIC_OPERATIONS: readonly string[] = Object.freeze([
  'health', 'sealStatus', 'init', 'unseal', 'login', 'machineChallenge', 'machineLogin', 'certLogin', 'attestChallenge', 'attestLogin', 'jwks', 'getChannelKey', 'getAttestation', 'channelPost',
  'rekeyStatus', 'rekeyInit', 'rekeyCancel', 'rekeyUpdate', 'generateRootStatus', 'generateRootInit', 'generateRootCancel', 'generateRootUpdate',
]);

const BY_ID: ReadonlyMap<string, ActionDef> = new Map(ACTIONS.map((a) => [a.id, a]));
const BATCH = 'Batch';

/** The catalogue entry of an operationId (batch variants map to their single form), or undefined. */
export function findAction(operationId: string): ActionDef | undefined {
  const direct = BY_ID.get(operationId);
  if (direct !== undefined) return direct;
  return operationId.endsWith(BATCH) ? BY_ID.get(operationId.slice(0, -BATCH.length)) : undefined;
}

/**
 * The Cedar action id for an operationId (batch variants map to their single
 * form). Called once per route at registration.
 * @throws TypeError for an operationId outside the catalogue: a route without an action is a bug.
 */
export function actionFor(operationId: string): string {
  const action = findAction(operationId);
  if (action === undefined) throw new TypeError(`operation ${operationId} has no policy action (add it to src/policy/actions.ts)`);
  return action.id;
}
