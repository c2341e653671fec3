/**
 * The policy engine: Cedar decisions against the active signed bundle.
 *
 * Contract:
 * - authorize() answers from a decision cache keyed on everything a decision
 *   depends on; a miss asks Cedar (pre-parsed policy set,
 *   `statefulIsAuthorized`) with the entity slice the request can observe.
 *   Cedar's default is deny; a request Cedar cannot evaluate, or one where
 *   any policy fails to evaluate, is denied.
 * - push() verifies signature, shape, version and Cedar validity, persists the
 *   bundle through the barrier (view `policy/`), then swaps it in; on any
 *   failure the previous bundle stays active. The highest accepted version and
 *   the active bundle's version and SHA-256 are kept in the keyring record
 *   (barrier policyState(), under the root key), written in the same
 *   transaction as the bundle, so neither can be rolled back with the rows.
 * - The active bundle is loaded once per unsealed period; sealing forgets it.
 *   It must be the bundle the keyring names: a missing bundle after a push,
 *   or one with another hash, is KH_STORAGE_ROLLBACK (fail closed: every
 *   decision errors), never the built-in bundle. A stored bundle whose key is
 *   no longer in policy.trustedKeys keeps being enforced, since its hash is
 *   the one recorded when it verified at push; that is logged at error and
 *   exposed as untrustedBundle (a metric) until a bundle signed by a trusted
 *   key is pushed.
 * - Break-glass: the root token may always read and push policy, whatever the
 *   active bundle says, so no bundle can lock the vault's policy for good.
 */
import { isIP, isIPv4 } from 'node:net';
import type { Barrier, BarrierView, PolicyState } from '../barrier/barrier.js';
import { sealScoped } from '../barrier/seal-scoped.js';
import { KeyholdError } from '../errors.js';
import { findAction, resourceTypesOf, type ActionDef } from './actions.js';
import { bundleSha256, checkVersionStep, parseBundle, verifyBundle, type PolicyBundle } from './bundle.js';
import { cedar, describeDiagnostics, type EntityJson } from './cedar-wasm.js';
import { NAMESPACE, WORKLOAD_ATTRIBUTES, type PrincipalType } from './cedar-schema.js';
import { DEFAULT_BUNDLE_BYTES, DEFAULT_BUNDLE_ISSUED_AT, DEFAULT_BUNDLE_VERSION, DEFAULT_POLICIES } from './default-bundle.js';
import { compilePolicySet, uidKey, type PolicySet, type Uid } from './policy-set.js';
import { loadTrustedKeys, type TrustedKeyConfig, type TrustedKeys } from './trusted-keys.js';

export interface AuthorizationRequest {
  readonly principal: {
    readonly type: PrincipalType;
    readonly id: string;
    readonly groups: readonly string[];
    /** Facts from authentication (a workload's attested measurements); never taken from a bundle. */
    readonly attrs?: Readonly<Record<string, string | boolean>>;
  };
  /** A catalogue action id (actions.ts), batch variants already folded. */
  readonly action: string;
  readonly resource: {
    readonly type: 'Key' | 'Secret' | 'Policy' | 'System' | 'User' | 'Machine' | 'Workload';
    readonly id: string;
    /** A User or Machine resource's groups (its Cedar parents), from the identity store or, for one being created, the request. */
    readonly groups?: readonly string[];
  };
  readonly context: {
    readonly mfa: boolean;
    readonly authMethods: readonly string[];
    /** The client address; IPv4-mapped IPv6 is reduced to IPv4 for Cedar's ip(). */
    readonly sourceIp: string;
    readonly apiSurface: string;
    readonly batch: boolean;
    /** The request arrived through the end-to-end encrypted channel (POST /v1/enclave/post). */
    readonly e2e?: boolean;
    /** The groups a created identity asks for (context.requestedGroups; empty when absent). */
    readonly requestedGroups?: readonly string[];
  };
}

export interface Decision {
  readonly allowed: boolean;
  /** Ids of the determining policies (`@id` or policy<N>), and any evaluation errors. */
  readonly reasons: readonly string[];
}

/**
 * The policies behind a decision, by id only: `determining` are the policies
 * that decided it (the permits of an allow, the forbids of a deny; empty for
 * Cedar's default deny), `errored` those whose evaluation failed. Kept beside
 * the decision rather than in it so that `reasons` stays the one public
 * summary; error texts are left out because they may quote entity ids.
 */
export interface DecisionDetail {
  readonly determining: readonly string[];
  readonly errored: readonly string[];
  /** The request itself could not be evaluated (an entity or context Cedar refused). */
  readonly requestError: boolean;
}

const details = new WeakMap<Decision, DecisionDetail>();

/** The policies behind a decision of {@link PolicyEngine.authorize}; undefined for a decision made elsewhere. */
export function decisionDetail(decision: Decision): DecisionDetail | undefined {
  return details.get(decision);
}

function decided(allowed: boolean, reasons: readonly string[], detail: DecisionDetail): Decision {
  const decision: Decision = Object.freeze({ allowed, reasons: Object.freeze(reasons) });
  details.set(decision, Object.freeze(detail));
  return decision;
}

export interface ActivePolicy {
  readonly version: number;
  readonly issuedAt: string;
  readonly sha256: string;
  readonly source: 'default' | 'pushed';
  readonly policies: string;
}

export interface PolicyEngineOptions {
  /** Clock for context.hourUtc / weekday (tests). */
  now?: () => number;
  /** Told (at error level) when the stored bundle no longer verifies or is missing: it names no secret. */
  error?: (message: string) => void;
  /** Decision cache entries before it is cleared (default 50 000). */
  cacheLimit?: number;
}

interface Active {
  readonly info: ActivePolicy;
  readonly set: PolicySet;
  readonly psetId: string;
  readonly cache: Map<string, Decision>;
}

interface StoredBundle {
  bundle: string;
  signature: string;
}

const BUNDLE_PATH = 'bundle';
/** Where the rollback floor was kept before the keyring held it; read once by the migration, then deleted. */
const LEGACY_VERSION_PATH = 'version';
const DEFAULT_CACHE_LIMIT = 50_000;
const BREAK_GLASS_ACTIONS = new Set(['showPolicy', 'pushPolicy']);
const ACTION_TYPE = `${NAMESPACE}::Action`;
const GROUP_TYPE = `${NAMESPACE}::Group`;
const SECRET_TYPE = `${NAMESPACE}::Secret`;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

// Pre-parsed policy sets live in Cedar's process-wide cache, keyed by id; ids
// are unique per activation so engines in one process never share one (the
// immutable default set excepted).
const DEFAULT_PSET_ID = 'keyhold-default';
let psetSerial = 0;
let defaultSet: PolicySet | undefined;

function preparse(id: string, set: PolicySet): void {
  const answer = cedar.preparsePolicySet(id, { staticPolicies: { ...set.policies } });
  if (answer.type !== 'success') throw new KeyholdError('KH_POLICY_INVALID', `The bundle's Cedar content is invalid: ${describeDiagnostics(answer.errors)}`);
}

/**
 * Frees a retired policy set's memory in Cedar's cache. Deferred to the next
 * macrotask: a decision that fetched the old state before the swap resumes in
 * a microtask, and must still find its set.
 */
function release(active: Active): void {
  if (active.psetId === DEFAULT_PSET_ID) return;
  setImmediate(() => cedar.preparsePolicySet(active.psetId, { staticPolicies: {} })).unref();
}

function defaultActive(): Active {
  if (defaultSet === undefined) {
    const set = compilePolicySet({ policies: DEFAULT_POLICIES, entities: [] });
    preparse(DEFAULT_PSET_ID, set);
    defaultSet = set;
  }
  return {
    info: { version: DEFAULT_BUNDLE_VERSION, issuedAt: DEFAULT_BUNDLE_ISSUED_AT, sha256: bundleSha256(DEFAULT_BUNDLE_BYTES), source: 'default', policies: DEFAULT_POLICIES },
    set: defaultSet,
    psetId: DEFAULT_PSET_ID,
    cache: new Map(),
  };
}

function pushedActive(set: PolicySet, info: Omit<ActivePolicy, 'source'>): Active {
  const psetId = `keyhold-${++psetSerial}`;
  preparse(psetId, set);
  return { info: { ...info, source: 'pushed' }, set, psetId, cache: new Map() };
}

/** Cedar's ip() refuses IPv4-mapped IPv6 and zone ids; sockets report both. */
function cedarIp(address: string): string {
  let ip = address;
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  if (ip.toLowerCase().startsWith('::ffff:') && isIPv4(ip.slice(7))) ip = ip.slice(7);
  if (isIP(ip) === 0) throw new TypeError('context.sourceIp is not an IP address');
  return ip;
}

/** The action and its group as Cedar entities (the schema would supply them; calls here pass none). */
const actionEntityCache = new Map<string, EntityJson[]>();
function actionEntitiesOf(action: ActionDef): EntityJson[] {
  let entities = actionEntityCache.get(action.id);
  if (entities === undefined) {
    const group = { type: ACTION_TYPE, id: action.group };
    entities = [
      { uid: { type: ACTION_TYPE, id: action.id }, attrs: {}, parents: [group] },
      { uid: group, attrs: {}, parents: [] },
    ];
    actionEntityCache.set(action.id, entities);
  }
  return entities;
}

/**
 * A principal's attributes must match the schema exactly: a mistyped one
 * (debug: "false") would make Cedar skip every policy that reads it, and a
 * skipped forbid is an allow.
 */
function checkAttributes(p: AuthorizationRequest['principal']): void {
  if (p.attrs === undefined) return;
  for (const [name, value] of Object.entries(p.attrs)) {
    const type = p.type === 'Workload' ? WORKLOAD_ATTRIBUTES[name] : undefined;
    if (type === undefined) throw new TypeError(`a ${p.type} principal has no attribute ${name}`);
    if (typeof value !== (type === 'Boolean' ? 'boolean' : 'string')) throw new TypeError(`attribute ${name} must be a ${type}`);
  }
}

// Decision-cache key: every field the decision depends on, each string
// length-prefixed so no two requests share a key whatever their ids contain
// (the type names are prefix-free). About 3x cheaper than JSON.stringify,
// which dominated a cache hit.
const ls = (s: string): string => `${s.length}:${s}`;
function listKey(list: readonly string[]): string {
  let k = `${list.length}[`;
  for (const s of list) k += ls(s);
  return k;
}
function attrsKey(attrs: Readonly<Record<string, string | boolean>> | undefined): string {
  if (attrs === undefined) return '-';
  let k = '{';
  for (const name of Object.keys(attrs)) {
    const v: unknown = attrs[name];
    // Anything but a string or boolean is refused by checkAttributes, so never cached.
    k += ls(name) + (v === true ? 't' : v === false ? 'f' : typeof v === 'string' ? `s${ls(v)}` : '?');
  }
  return `${k}}`;
}

/** Bundle parents plus the named groups, each once. */
function mergeGroups(bundled: readonly Uid[], groups: readonly string[]): Uid[] {
  const parents: Uid[] = [...bundled];
  const keys = new Set(parents.map(uidKey));
  for (const g of groups) {
    const group = { type: GROUP_TYPE, id: g };
    if (!keys.has(uidKey(group))) {
      keys.add(uidKey(group));
      parents.push(group);
    }
  }
  return parents;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const parseJson = <T>(bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as T;

export class PolicyEngine {
  readonly #view: BarrierView;
  readonly #barrier: Barrier;
  readonly #keys: TrustedKeys;
  readonly #scoped: { get(): Promise<Active>; set(value: Active): void };
  readonly #now: () => number;
  readonly #error: (message: string) => void;
  #untrusted = false;
  readonly #cacheLimit: number;
  /** The loaded bundle, for a synchronous cache hit; cleared on seal. */
  #current: Active | undefined;
  /** Counts seals, so a load or push that straddles one does not install stale state. */
  #epoch = 0;
  #pushing: Promise<unknown> = Promise.resolve();

  /** @throws KeyholdError KH_CONFIG_INVALID when a trusted key cannot be loaded. */
  constructor(barrier: Barrier, trustedKeys: readonly TrustedKeyConfig[], options: PolicyEngineOptions = {}) {
    this.#view = barrier.view('policy/');
    this.#barrier = barrier;
    this.#keys = loadTrustedKeys(trustedKeys);
    this.#now = options.now ?? Date.now;
    this.#error = options.error ?? (() => {});
    this.#cacheLimit = options.cacheLimit ?? DEFAULT_CACHE_LIMIT;
    this.#scoped = sealScoped(barrier, () => this.#load(), release);
    barrier.onSeal(() => {
      this.#current = undefined;
      this.#epoch++;
    });
  }

  async #load(): Promise<Active> {
    const epoch = this.#epoch;
    const state = this.#barrier.policyState() ?? (await this.#migrateState());
    const stored = await this.#view.get(BUNDLE_PATH);
    let active: Active;
    if (state.active === undefined) {
      // Nothing was ever activated, so a stored bundle can only be a resurrected row.
      if (stored !== undefined) throw this.#rollback('a policy bundle is stored but the keyring records none');
      active = defaultActive();
      this.#untrusted = false;
    } else {
      // Fail closed: a pushed bundle that is gone is never replaced by the permissive built-in one.
      if (stored === undefined) throw this.#rollback(`the policy bundle version ${state.active.version} is missing from storage`);
      const record = parseJson<StoredBundle>(stored);
      const bytes = new Uint8Array(Buffer.from(record.bundle, 'base64'));
      const sha256 = bundleSha256(bytes);
      if (sha256 !== state.active.sha256) throw this.#rollback(`the stored policy bundle is not version ${state.active.version}, the one the keyring records`);
      let bundle: PolicyBundle;
      try {
        bundle = (await verifyBundle(bytes, record.signature, this.#keys)).bundle;
        this.#untrusted = false;
      } catch (e) {
        // Its hash is the one recorded under the root key when it verified at push: it is the last good
        // bundle, so it stays in force (the built-in bundle would permit what it forbids).
        this.#error(
          `the active policy bundle (version ${state.active.version}) no longer verifies (${e instanceof KeyholdError ? e.code : 'error'}): its key is not in policy.trustedKeys. It stays enforced by its recorded hash; push a bundle signed by a trusted key`,
        );
        this.#untrusted = true;
        bundle = parseBundle(bytes);
      }
      active = pushedActive(compilePolicySet(bundle), { version: bundle.version, issuedAt: bundle.issuedAt, sha256, policies: bundle.policies });
    }
    if (epoch === this.#epoch) this.#current = active;
    return active;
  }

  #rollback(why: string): KeyholdError {
    this.#error(`policy fails closed: ${why}`);
    return new KeyholdError('KH_STORAGE_ROLLBACK', undefined, { cause: new Error(why) });
  }

  /**
   * One-time migration of a store written before the keyring kept the policy
   * state: the floor and the active bundle are taken from the rows (they were
   * all there was) and recorded in the keyring; the old floor row goes.
   */
  async #migrateState(): Promise<PolicyState> {
    const stored = await this.#view.get(BUNDLE_PATH);
    const floorRow = await this.#view.get(LEGACY_VERSION_PATH);
    // Before the upgrade every push wrote both rows in one transaction: one without the other was edited (issue 15, review 10).
    if ((stored === undefined) !== (floorRow === undefined)) throw this.#rollback('one of the pre-upgrade policy rows (bundle, version) is missing');
    let highest = floorRow === undefined ? 0 : parseJson<{ highest: number }>(floorRow).highest;
    let state: PolicyState = { highest };
    if (stored !== undefined) {
      const bytes = new Uint8Array(Buffer.from(parseJson<StoredBundle>(stored).bundle, 'base64'));
      const version = parseBundle(bytes).version;
      highest = Math.max(highest, version);
      state = { highest, active: { version, sha256: bundleSha256(bytes) } };
    }
    await this.#view.transaction([{ type: 'delete', path: LEGACY_VERSION_PATH }], { policy: state });
    return state;
  }

  /** True while the enforced bundle's key is no longer trusted (M6: exposed as a metric). */
  get untrustedBundle(): boolean {
    return this.#untrusted;
  }

  #active(): Promise<Active> | Active {
    return this.#current ?? this.#scoped.get();
  }

  /** The bundle in force. */
  async active(): Promise<ActivePolicy> {
    return (await this.#active()).info;
  }

  /**
   * Decides one request. The engine adds context.hourUtc and context.weekday
   * (0 = Sunday, UTC).
   * @throws TypeError for an action outside the catalogue, a resource type the action does not apply to, or a sourceIp that is not an IP address.
   */
  async authorize(req: AuthorizationRequest): Promise<Decision> {
    const active = this.#current ?? (await this.#scoped.get());
    const now = this.#now();
    const hourUtc = Math.floor(now / HOUR_MS) % 24;
    // 1970-01-01 was a Thursday (4).
    const weekday = (Math.floor(now / DAY_MS) + 4) % 7;
    const { principal: p, resource: r, context: c } = req;
    const key =
      p.type + ls(p.id) + listKey(p.groups) + attrsKey(p.attrs) + ls(req.action) + r.type + ls(r.id) + listKey(r.groups ?? []) +
      (c.mfa ? '1' : '0') + listKey(c.authMethods) + ls(c.sourceIp) + ls(c.apiSurface) + (c.batch ? '1' : '0') + (c.e2e === true ? '1' : '0') + listKey(c.requestedGroups ?? []) + hourUtc + ':' + weekday;
    const hit = active.cache.get(key);
    if (hit !== undefined) return hit;
    const decision = this.#decide(active, req, hourUtc, weekday);
    if (active.cache.size >= this.#cacheLimit) active.cache.clear();
    active.cache.set(key, decision);
    return decision;
  }

  #decide(active: Active, req: AuthorizationRequest, hourUtc: number, weekday: number): Decision {
    const { principal: p, resource: r, context: c } = req;
    const action = findAction(req.action);
    if (action === undefined || action.id !== req.action) throw new TypeError(`${req.action} is not a policy action`);
    if (!resourceTypesOf(action).includes(r.type as never)) throw new TypeError(`action ${action.id} applies to ${action.resource} resources, not ${r.type}`);
    if (p.type === 'User' && p.id === 'root' && BREAK_GLASS_ACTIONS.has(action.id)) return Object.freeze({ allowed: true, reasons: Object.freeze(['break-glass: root may always show and push policy']) });

    checkAttributes(p);

    const principal: Uid = { type: `${NAMESPACE}::${p.type}`, id: p.id };
    const resource: Uid = { type: `${NAMESPACE}::${r.type}`, id: r.id };
    // No schema in the call: Cedar's request validation against the full
    // schema costs ~400 µs a decision (measured), four times the decision
    // itself. What it would check is checked here instead: the action and its
    // resource type (above), the principal's attributes (checkAttributes), and
    // the context, which is built here. Bundle entities were validated
    // against the schema when the bundle was pushed.
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: ACTION_TYPE, id: action.id },
      resource,
      context: {
        mfa: c.mfa,
        authMethods: [...c.authMethods],
        sourceIp: { __extn: { fn: 'ip', arg: cedarIp(c.sourceIp) } },
        hourUtc,
        weekday,
        apiSurface: c.apiSurface,
        batch: c.batch,
        e2e: c.e2e === true,
        requestedGroups: (c.requestedGroups ?? []).map((id) => ({ __entity: { type: GROUP_TYPE, id } })),
      },
      preparsedPolicySetId: active.psetId,
      entities: this.#slice(active.set, p, principal, r, resource, action),
    });
    if (answer.type === 'failure') return decided(false, [`request error: ${describeDiagnostics(answer.errors)}`], { determining: [], errored: [], requestError: true });
    const { decision, diagnostics } = answer.response;
    const reasons = [...diagnostics.reason, ...diagnostics.errors.map((e) => `error in ${e.policyId}: ${e.error.message}`)];
    // Cedar skips a policy whose evaluation fails; for a forbid that would be
    // an allow nobody wrote. Any evaluation error therefore denies.
    const errored = diagnostics.errors.map((e) => e.policyId);
    return decided(decision === 'allow' && errored.length === 0, reasons, { determining: [...diagnostics.reason], errored, requestError: false });
  }

  /**
   * The entities this request can observe (policy-set.ts): the principal, with
   * the bundle's parents for it merged with its groups; the action and its
   * group; then everything reachable from the principal's parents, the
   * resource and the policies' literals.
   */
  #slice(set: PolicySet, p: AuthorizationRequest['principal'], principal: Uid, r: AuthorizationRequest['resource'], resource: Uid, action: ActionDef): EntityJson[] {
    const actionEntities = actionEntitiesOf(action);
    const seen = new Set<string>([uidKey(principal), ...actionEntities.map((e) => uidKey(e.uid as Uid))]);
    const parents = mergeGroups(set.entities.get(uidKey(principal))?.parents ?? [], p.groups);
    const out: EntityJson[] = [{ uid: principal, attrs: { ...p.attrs }, parents }, ...actionEntities];
    const queue: Uid[] = [...parents, resource, ...set.literals];
    if (resource.type === SECRET_TYPE) {
      // A secret's `path` attribute is its id, a fact of the request (like a workload's PCRs), never the bundle's;
      // the bundle may still place the secret in a hierarchy through parents.
      const bundled = set.entities.get(uidKey(resource));
      seen.add(uidKey(resource));
      // `namespace` (the first path segment) lets one policy give each workload role its own folder (default-bundle.ts).
      out.push({ uid: resource, attrs: { path: resource.id, namespace: resource.id.split('/', 1)[0] ?? '' }, parents: [...(bundled?.parents ?? [])] });
      queue.push(...(bundled?.reaches ?? []));
    } else if (r.groups !== undefined && !seen.has(uidKey(resource))) {
      // An identity acted on: its groups are request facts (the identity store's), merged with the bundle's parents for it.
      const groups = mergeGroups(set.entities.get(uidKey(resource))?.parents ?? [], r.groups);
      seen.add(uidKey(resource));
      out.push({ uid: resource, attrs: {}, parents: groups });
      queue.push(...groups);
    }
    for (let u = queue.pop(); u !== undefined; u = queue.pop()) {
      const k = uidKey(u);
      if (seen.has(k)) continue;
      seen.add(k);
      const e = set.entities.get(k);
      if (e === undefined) continue;
      out.push(e.json);
      queue.push(...e.reaches);
    }
    return out;
  }

  /**
   * Verifies and activates a bundle. Pushes are serialised.
   * @throws KeyholdError KH_POLICY_BUNDLE_MALFORMED, KH_POLICY_KEY_UNKNOWN, KH_POLICY_SIGNATURE_INVALID, KH_POLICY_ROLLBACK, KH_POLICY_INVALID; the active bundle is then unchanged.
   */
  push(bundleBytes: Uint8Array, signature: string): Promise<{ version: number; sha256: string }> {
    const run = this.#pushing.then(() => this.#push(bundleBytes, signature));
    this.#pushing = run.catch(() => undefined);
    return run;
  }

  async #push(bytes: Uint8Array, signature: string): Promise<{ version: number; sha256: string }> {
    const { bundle, sha256 } = await verifyBundle(bytes, signature, this.#keys);
    const previous = await this.#active();
    const epoch = this.#epoch;
    const floor = Math.max(previous.info.version, this.#barrier.policyState()?.highest ?? 0);
    if (bundle.version <= floor) {
      throw new KeyholdError('KH_POLICY_ROLLBACK', `The bundle's version ${bundle.version} is not greater than ${floor}, the highest accepted; the active bundle is unchanged.`);
    }
    checkVersionStep(bundle.version, floor);
    const next = pushedActive(compilePolicySet(bundle), { version: bundle.version, issuedAt: bundle.issuedAt, sha256, policies: bundle.policies });
    try {
      const record: StoredBundle = { bundle: Buffer.from(bytes).toString('base64'), signature: signature.trim() };
      // The bundle row and the keyring's record of it commit together.
      await this.#view.transaction([{ type: 'put', path: BUNDLE_PATH, value: json(record) }], {
        policy: { highest: bundle.version, active: { version: bundle.version, sha256 } },
      });
    } catch (e) {
      release(next);
      throw e;
    }
    if (epoch === this.#epoch) {
      // The swap is one assignment: a decision sees the old bundle or the new, never a mix.
      this.#scoped.set(next);
      this.#current = next;
      this.#untrusted = false;
      release(previous);
    } else {
      // Sealed meanwhile: the next unsealed period loads the stored bundle.
      release(next);
    }
    return { version: bundle.version, sha256 };
  }
}
