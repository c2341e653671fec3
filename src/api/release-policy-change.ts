/**
 * When a change to a key's or secret's attestation release policy is its own
 * destructive action (issue 15 M8): the release policy is what keeps material
 * inside attested workloads, so whoever may merely update a key must not be
 * able to lift it. Adding a policy where there was none only tightens and stays
 * a plain update; removing one, or replacing it with a different one, is
 * asked as changeKeyReleasePolicy / changeSecretReleasePolicy (destructive:
 * the default bundle asks for a second factor). Replacing is not ordered by
 * strictness on purpose: a "tighter" PCR set is still a different workload.
 */
import { checkReleasePolicy, type ReleasePolicy } from '../keys/release/release-policy.js';

/** Key order independent JSON of a normalised policy. */
function canonical(policy: ReleasePolicy): string {
  const p = checkReleasePolicy(policy);
  const pcrs = p.pcrs === undefined ? undefined : Object.fromEntries(Object.entries(p.pcrs).sort(([a], [b]) => Number(a) - Number(b)));
  return JSON.stringify([pcrs ?? null, p.moduleIdPrefix ?? null, p.allowDebug, p.maxAgeSeconds]);
}

/**
 * Whether setting `requested` (undefined: untouched, null: removed) over
 * `current` loosens or replaces the binding.
 * @throws KeyholdError KH_RELEASE_POLICY_INVALID for a requested policy that does not validate
 */
export function releasePolicyChangeNeedsAction(current: ReleasePolicy | undefined, requested: ReleasePolicy | null | undefined): boolean {
  if (requested === undefined || current === undefined) return false;
  if (requested === null) return true;
  return canonical(requested) !== canonical(current);
}
