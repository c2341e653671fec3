/**
 * The Cedar schema (namespace `Keyhold`) every bundle is validated against,
 * in strict mode, and every request is checked against. It is built from the
 * action catalogue, so an action cannot exist without its `appliesTo`.
 *
 * Principals: User, Machine, Workload, each `in [Group]`; a Workload carries
 * the measurements of its verified attestation. Resources: Key (named keys),
 * System (areas: seal, audit, auth, policy, tools, keys), Secret (id and
 * `path` attribute = the secret path, e.g. "app/db"), the identities (User,
 * Machine: identity management acts on the identity it changes, with its
 * groups as parents; Workload only as the caller's own) and Policy, reserved for
 * per-policy resources (no action applies to it yet). The schema is the server's, never the bundle's:
 * a bundle may repeat it but cannot change it (bundle-cedar.ts).
 */
import { ACTION_GROUPS, ACTIONS, resourceTypesOf } from './actions.js';
import { cedar, describeDiagnostics, type SchemaJson } from './cedar-wasm.js';

export const NAMESPACE = 'Keyhold';
export const PRINCIPAL_TYPES = ['User', 'Machine', 'Workload'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];
export const RESOURCE_TYPES = ['Key', 'Secret', 'Policy', 'System', 'User', 'Machine', 'Workload'] as const;

/** Attributes a Workload principal may carry (from its attestation document). */
export const WORKLOAD_ATTRIBUTES: Readonly<Record<string, 'String' | 'Boolean'>> = Object.freeze({
  pcr0: 'String',
  pcr1: 'String',
  pcr2: 'String',
  pcr8: 'String',
  moduleId: 'String',
  debug: 'Boolean',
  /** The auth.attestRoles role the workload logged in under (also its principal id). */
  role: 'String',
});

/** Request context; the engine fills hourUtc and weekday. */
const CONTEXT = {
  type: 'Record',
  attributes: {
    mfa: { type: 'Boolean' },
    authMethods: { type: 'Set', element: { type: 'String' } },
    sourceIp: { type: 'Extension', name: 'ipaddr' },
    hourUtc: { type: 'Long' },
    weekday: { type: 'Long' },
    apiSurface: { type: 'String' },
    batch: { type: 'Boolean' },
    e2e: { type: 'Boolean' },
    /** The groups a created identity asks for (createUser, createMachine); empty for every other action. */
    requestedGroups: { type: 'Set', element: { type: 'Entity', name: 'Group' } },
  },
} as const;

function buildSchema(): SchemaJson<string> {
  const actions: Record<string, object> = {};
  for (const group of ACTION_GROUPS) actions[group] = {};
  for (const a of ACTIONS) {
    actions[a.id] = {
      memberOf: [{ id: a.group }],
      appliesTo: { principalTypes: [...PRINCIPAL_TYPES], resourceTypes: [...resourceTypesOf(a)], context: { type: 'RequestContext' } },
    };
  }
  const workloadShape = Object.fromEntries(Object.entries(WORKLOAD_ATTRIBUTES).map(([name, type]) => [name, { type, required: false }]));
  return {
    [NAMESPACE]: {
      commonTypes: { RequestContext: CONTEXT },
      entityTypes: {
        Group: {},
        User: { memberOfTypes: ['Group'] },
        Machine: { memberOfTypes: ['Group'] },
        Workload: { memberOfTypes: ['Group'], shape: { type: 'Record', attributes: workloadShape } },
        Key: {},
        // The path is an attribute too, so policies can match folders: resource.path like "app/*".
        Secret: { shape: { type: 'Record', attributes: { path: { type: 'String', required: true }, namespace: { type: 'String', required: true } } } },
        Policy: {},
        System: {},
      },
      actions,
    },
  } as SchemaJson<string>;
}

/** The schema as Cedar JSON. */
export const KEYHOLD_SCHEMA: SchemaJson<string> = buildSchema();

let text: string | undefined;

/** The schema in Cedar's human-readable, normalised syntax (for `keyhold policy schema`, the docs, and comparing a bundle's copy). */
export function schemaText(): string {
  if (text === undefined) {
    const answer = cedar.schemaToText(KEYHOLD_SCHEMA);
    if (answer.type !== 'success') throw new TypeError(`the built-in Cedar schema does not print: ${describeDiagnostics(answer.errors)}`);
    text = answer.text;
  }
  return text;
}
