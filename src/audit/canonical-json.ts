/**
 * Canonical JSON for audit hashing and checkpoint signing: object keys sorted
 * at every level, no whitespace, so a hash or signature never depends on the
 * key order a writer or a verifier happened to use.
 *
 * It is total over the JSON data model and refuses everything else with a
 * TypeError (undefined, NaN, ±Infinity, BigInt, functions, symbols, sparse
 * array holes, non-plain objects, cycles, nesting deeper than
 * MAX_CANONICAL_DEPTH). Refusing rather than normalising keeps a hash input
 * unambiguous: JSON.stringify would write NaN as null and drop undefined
 * object members, so two different values would hash alike, and the old code
 * wrote the bare word `undefined` into the log (issue 15, H1). Values that come
 * from a client are normalised before they get here, by toAuditValue
 * (audit-value.ts), which never throws; a TypeError from this function is
 * therefore a programming error, and it fails that one entry only.
 */
export type AuditValue = string | number | boolean | null | AuditValue[] | { [k: string]: AuditValue };
export type AuditFields = { [k: string]: AuditValue };

/** Deeper than any entry Keyhold writes (toAuditValue caps client data well below); bounds the recursion. */
export const MAX_CANONICAL_DEPTH = 64;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function write(value: unknown, depth: number, path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${String(value)} at ${path} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_CANONICAL_DEPTH) throw new TypeError(`canonicalJson: nested deeper than ${MAX_CANONICAL_DEPTH} levels (or a cycle) at ${path}`);
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw new TypeError(`canonicalJson: hole at ${path}[${i}]`);
          parts.push(write(value[i], depth + 1, `${path}[${i}]`));
        }
        return `[${parts.join(',')}]`;
      }
      if (!isPlainObject(value)) throw new TypeError(`canonicalJson: a non-plain object at ${path}`);
      const record = value as Record<string, unknown>;
      return `{${Object.keys(record)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${write(record[k], depth + 1, `${path}.${k}`)}`)
        .join(',')}}`;
    }
    default:
      // undefined, bigint, function, symbol: JSON has no token for them.
      throw new TypeError(`canonicalJson: ${typeof value} at ${path} is not a JSON value`);
  }
}

/**
 * JSON with object keys sorted at every level. The output always parses with
 * JSON.parse, and canonicalJson(JSON.parse(output)) === output.
 * @throws TypeError when `value` is not JSON data (see the module comment).
 */
export function canonicalJson(value: AuditValue): string {
  return write(value, 0, '$');
}
