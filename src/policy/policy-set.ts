/**
 * A bundle's Cedar content, validated and indexed for fast decisions.
 *
 * - Policies are split and given ids: the `@id("...")` annotation when there
 *   is one, else `policy<N>` (N = position), so decision reasons name them.
 * - Policies are validated against the server's schema in strict mode, and
 *   validator warnings count as errors; entities are parsed against it. Templates and Action entities are refused
 *   (actions and their groups come from the schema). A policy naming an
 *   action outside the catalogue is refused with KH_POLICY_ACTION_UNKNOWN
 *   before Cedar sees it: every catalogue action is asked by a route, so a
 *   policy about any other would be a rule nobody enforces.
 * - Entities are indexed by uid so each decision passes Cedar only the slice
 *   it can observe: the principal, the resource, the entities named literally
 *   in a policy, and everything reachable from those through parents or
 *   entity-valued attributes. Cedar parses the entities of every call, so
 *   passing the whole store would cost time linear in its size (~12 ms for
 *   1000 entities, measured), while the slice is complete: a Cedar expression
 *   reaches entity data only from those roots.
 */
import { KeyholdError } from '../errors.js';
import { cedar, describeDiagnostics, type EntityJson, type PolicyJson } from './cedar-wasm.js';
import { KEYHOLD_SCHEMA, NAMESPACE, schemaText } from './cedar-schema.js';
import { ACTION_GROUPS, findAction } from './actions.js';

export interface Uid {
  readonly type: string;
  readonly id: string;
}

export interface IndexedEntity {
  readonly json: EntityJson;
  readonly uid: Uid;
  readonly parents: readonly Uid[];
  /** Parents and entities named in attribute values: what Cedar can reach from this one. */
  readonly reaches: readonly Uid[];
}

export interface PolicySet {
  /** policy id -> Cedar text. */
  readonly policies: Readonly<Record<string, string>>;
  readonly entities: ReadonlyMap<string, IndexedEntity>;
  /** Entities named literally in some policy. */
  readonly literals: readonly Uid[];
}

export const uidKey = (uid: Uid): string => `${uid.type}\u0000${uid.id}`;

const invalid = (message: string, cause?: unknown) =>
  new KeyholdError('KH_POLICY_INVALID', `The bundle's Cedar content is invalid: ${message}`, cause === undefined ? undefined : { cause });

/** A Cedar entity uid in either JSON form (`{type,id}` or `{__entity:{type,id}}`), or undefined. */
function asUid(v: unknown): Uid | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = (v as { __entity?: unknown }).__entity ?? v;
  if (typeof o !== 'object' || o === null) return undefined;
  const { type, id } = o as { type?: unknown; id?: unknown };
  return typeof type === 'string' && typeof id === 'string' ? { type, id } : undefined;
}

/**
 * Every `{type, id}` or `{__entity}` object inside a value. Over-collecting is
 * harmless (an unknown uid adds nothing to a slice); missing one is not.
 */
function collectUids(value: unknown, out: Uid[]): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) collectUids(v, out);
    return;
  }
  const uid = asUid(value);
  if (uid !== undefined) out.push(uid);
  for (const v of Object.values(value)) collectUids(v, out);
}

function checkSchemaCopy(schema: unknown): void {
  // The server's schema is the one that counts; a copy in the bundle must say
  // the same thing. Compared in Cedar's normalised text form (sorted, canonical).
  let text: string | undefined;
  try {
    const answer = cedar.schemaToText(schema as Parameters<typeof cedar.schemaToText>[0]);
    if (answer.type === 'success') text = answer.text;
    else throw invalid(`the bundle's schema does not parse: ${describeDiagnostics(answer.errors)}`);
  } catch (e) {
    if (e instanceof KeyholdError) throw e;
    throw invalid("the bundle's schema does not parse", e);
  }
  if (text !== schemaText()) throw invalid("the bundle's schema differs from the server's; omit it, or use the output of `keyhold policy schema`");
}

function splitPolicies(text: string): { policies: Record<string, string>; literals: Uid[] } {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') throw invalid(describeDiagnostics(parts.errors));
  if (parts.policy_templates.length > 0) throw invalid('policy templates are not supported; write static policies');
  const policies: Record<string, string> = Object.create(null) as Record<string, string>;
  const literals: Uid[] = [];
  parts.policies.forEach((policy, i) => {
    const answer = cedar.policyToJson(policy);
    if (answer.type !== 'success') throw invalid(describeDiagnostics(answer.errors));
    const json: PolicyJson = answer.json;
    const id = json.annotations?.id ?? `policy${i}`;
    if (id in policies) throw invalid(`two policies have the id ${JSON.stringify(id)}`);
    policies[id] = policy;
    collectUids(json, literals);
  });
  return { policies, literals };
}

const ACTION_TYPE = `${NAMESPACE}::Action`;
const GROUP_IDS: ReadonlySet<string> = new Set(ACTION_GROUPS);

/** @throws KeyholdError KH_POLICY_ACTION_UNKNOWN for the first Action literal that is neither a catalogue action nor a group. */
function checkActionsAsked(literals: readonly Uid[]): void {
  for (const uid of literals) {
    if (uid.type !== ACTION_TYPE || GROUP_IDS.has(uid.id) || findAction(uid.id)?.id === uid.id) continue;
    throw new KeyholdError('KH_POLICY_ACTION_UNKNOWN', `The bundle names the action ${JSON.stringify(uid.id.slice(0, 128))}, which no route asks about; the active bundle is unchanged.`);
  }
}

function indexEntities(entities: readonly unknown[]): Map<string, IndexedEntity> {
  const index = new Map<string, IndexedEntity>();
  if (entities.length === 0) return index;
  const check = cedar.checkParseEntities({ entities: entities as EntityJson[], schema: KEYHOLD_SCHEMA });
  if (check.type !== 'success') throw invalid(describeDiagnostics(check.errors));
  for (const e of entities as EntityJson[]) {
    const uid = asUid(e.uid);
    if (uid === undefined) throw invalid('an entity has no uid');
    if (uid.type === `${NAMESPACE}::Action`) throw invalid('actions and their groups come from the server schema; remove Action entities from the bundle');
    const key = uidKey(uid);
    if (index.has(key)) throw invalid(`the entity ${uid.type}::${JSON.stringify(uid.id)} is declared twice`);
    const parents = (e.parents ?? []).map(asUid).filter((u): u is Uid => u !== undefined);
    const reaches = [...parents];
    collectUids(e.attrs, reaches);
    collectUids(e.tags, reaches);
    index.set(key, { json: e, uid, parents, reaches });
  }
  return index;
}

/**
 * Validates a bundle's policies and entities against the server's schema and
 * indexes them.
 * @throws KeyholdError KH_POLICY_INVALID with Cedar's diagnostics (truncated).
 */
export function compilePolicySet(content: { readonly policies: string; readonly entities: readonly unknown[]; readonly schema?: unknown }): PolicySet {
  try {
    if (content.schema !== undefined) checkSchemaCopy(content.schema);
    const { policies, literals } = splitPolicies(content.policies);
    checkActionsAsked(literals);
    const answer = cedar.validate({ schema: KEYHOLD_SCHEMA, policies: { staticPolicies: policies }, validationSettings: { mode: 'strict' } });
    if (answer.type !== 'success') throw invalid(describeDiagnostics(answer.errors));
    // Warnings are refused too: they flag impossible policies (a forbid that can
    // never apply is a hole its author did not mean) and confusable identifiers.
    const problems = [...answer.validationErrors, ...answer.validationWarnings];
    if (problems.length > 0) throw invalid(describeDiagnostics(problems));
    const entities = indexEntities(content.entities);
    return { policies, entities, literals };
  } catch (e) {
    if (e instanceof KeyholdError) throw e;
    // Cedar reports problems as answers; anything thrown is still the bundle's fault, not ours.
    throw invalid('Cedar could not process the bundle', e);
  }
}
