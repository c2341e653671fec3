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
 */

export const ACTION_GROUPS = ['use', 'read', 'manage', 'destructive'] as const;
export type ActionGroup = (typeof ACTION_GROUPS)[number];

export const SYSTEM_IDS = ['seal', 'audit', 'auth', 'policy', 'tools', 'keys'] as const;
/** Ids of `Keyhold::System` resources: the area of the system a route acts on ("keys" = the key collection: list, create, import). */
export type SystemId = (typeof SYSTEM_IDS)[number];

export type ResourceType = 'Key' | 'Secret' | 'System';

export interface ActionDef {
  /** The operationId, also the Cedar action id. */
  readonly id: string;
  readonly group: ActionGroup;
  readonly resource: ResourceType;
}

const def = (group: ActionGroup, resource: ResourceType, ids: readonly string[]): ActionDef[] => ids.map((id) => Object.freeze({ id, group, resource }));

/** Every action, in catalogue order. */
export const ACTIONS: readonly ActionDef[] = Object.freeze([
  ...def('use', 'Key', ['encrypt', 'decrypt', 'rewrap', 'generateDataKey', 'sign', 'verify', 'hmac', 'verifyHmac', 'deriveSharedSecret', 'encapsulate', 'decapsulate', 'getPublicKey']),
  ...def('use', 'System', ['random', 'hash']),
  ...def('read', 'Key', ['readKey']),
  ...def('read', 'System', ['listKeys', 'keyStatus', 'rekeyStatus', 'generateRootStatus', 'getWrappingKey', 'introspectToken', 'listUsers', 'readUser', 'listMachines', 'readMachine', 'listAccessKeys', 'showPolicy', 'auditHash', 'auditPublicKey']),
  ...def('manage', 'Key', ['updateKey', 'rotateKey', 'enableKey', 'disableKey', 'importKey', 'importKeyVersion', 'exportKey', 'cancelKeyDeletion']),
  ...def('manage', 'System', ['createKey', 'createUser', 'setUserPassword', 'createMachine', 'createAccessKey', 'enrollTotp', 'confirmTotp', 'renewToken', 'logout']),
  // The VSSM admin API (src/api/compat/vssm/): its audit log reading, and key backups wrapped to the transport key.
  ...def('read', 'System', ['readAuditLog']),
  ...def('manage', 'System', ['backupKeys', 'restoreKeys']),
  ...def('destructive', 'Key', ['trimKey', 'scheduleKeyDeletion']),
  ...def('use', 'Secret', ['readSecret']),
  ...def('read', 'Secret', ['readSecretMetadata', 'listSecrets']),
  ...def('manage', 'Secret', ['writeSecret', 'deleteSecret', 'undeleteSecret', 'writeSecretMetadata']),
  ...def('destructive', 'Secret', ['destroySecret', 'deleteSecretMetadata']),
  ...def('destructive', 'System', ['seal', 'rotate', 'rekeyInit', 'rekeyCancel', 'rekeyUpdate', 'generateRootInit', 'generateRootCancel', 'generateRootUpdate', 'revokeSessions', 'rotateSigningKey', 'pushPolicy', 'deleteUser', 'deleteMachine', 'deleteAccessKey']),
]);

/**
 * Operations that are public (auth 'none') and so never reach the policy
 * engine: status, health, init, unseal, the logins and the JWKS.
 */
export const PUBLIC_OPERATIONS: readonly string[] = Object.freeze(['health', 'sealStatus', 'init', 'unseal', 'login', 'machineChallenge', 'machineLogin', 'certLogin', 'attestChallenge', 'attestLogin', 'jwks', 'getChannelKey', 'getAttestation', 'channelPost']);

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
