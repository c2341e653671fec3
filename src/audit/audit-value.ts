/**
 * Turns anything a client sent (parsed bodies, query strings, params) into an
 * AuditValue that canonicalJson accepts, within fixed bounds, and never
 * throws: the audit of a request must not fail because of the shape of its
 * input (issue 15, L2: a deeply nested body on a body-less route made the
 * audit stringify it recursively, overflow the stack and refuse the request).
 *
 * - depth: containers below MAX_AUDIT_DEPTH levels become the marker string
 *   "[deeper than 8 levels]";
 * - size: after MAX_AUDIT_NODES values have been written, every further value
 *   becomes "[truncated]";
 * - non-JSON values (undefined, NaN, ±Infinity, BigInt, functions, symbols,
 *   array holes) become null, non-plain objects (Date, Buffer, Map) and cycles
 *   are cut at the depth bound.
 * Strings go through `leaf` (the redaction's HMAC) with the name of the field
 * that holds them. The walk is recursive but bounded by MAX_AUDIT_DEPTH, so
 * the stack cannot overflow whatever the input.
 */
import type { AuditValue } from './canonical-json.js';

export const MAX_AUDIT_DEPTH = 8;
export const MAX_AUDIT_NODES = 20_000;
export const DEEPER = `[deeper than ${MAX_AUDIT_DEPTH} levels]`;
export const TRUNCATED = '[truncated]';

/** Replaces a string value; `field` is the name of the object member (or enclosing member, for array items) that holds it. */
export type LeafMapper = (value: string, field: string) => string;

const identity: LeafMapper = (value) => value;

export function toAuditValue(value: unknown, leaf: LeafMapper = identity): AuditValue {
  let budget = MAX_AUDIT_NODES;
  const walk = (v: unknown, field: string, depth: number): AuditValue => {
    if (budget-- <= 0) return TRUNCATED;
    switch (typeof v) {
      case 'string':
        return leaf(v, field);
      case 'boolean':
        return v;
      case 'number':
        return Number.isFinite(v) ? v : null;
      case 'object': {
        if (v === null) return null;
        if (depth >= MAX_AUDIT_DEPTH) return DEEPER;
        try {
          if (Array.isArray(v)) {
            const out: AuditValue[] = [];
            for (let i = 0; i < v.length; i++) {
              if (budget <= 0) {
                out.push(TRUNCATED);
                break;
              }
              out.push(walk(v[i], field, depth + 1));
            }
            return out;
          }
          // A null prototype: a member named "__proto__" stays a member and never becomes the prototype.
          const out = Object.create(null) as { [k: string]: AuditValue };
          for (const k of Object.keys(v)) {
            if (budget <= 0) {
              out[k] = TRUNCATED;
              break;
            }
            out[k] = walk((v as Record<string, unknown>)[k], k, depth + 1);
          }
          return out;
        } catch {
          // A getter or proxy that throws (never from parsed JSON): the value is not recorded.
          return null;
        }
      }
      default:
        return null;
    }
  };
  return walk(value, '', 0);
}
