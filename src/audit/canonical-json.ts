/**
 * Canonical JSON for audit hashing and checkpoint signing: object keys sorted
 * at every level, no whitespace, so a hash or signature never depends on the
 * key order a writer or a verifier happened to use.
 */
export type AuditValue = string | number | boolean | null | AuditValue[] | { [k: string]: AuditValue };
export type AuditFields = { [k: string]: AuditValue };

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: AuditValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
