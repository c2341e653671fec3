/**
 * Limits on request JSON that hold before any parsing or validation work
 * (issue 15 M3/M4/L2):
 * - nesting depth: a linear byte scan, no recursion and no allocation, so a
 *   body of any depth costs one pass and is refused with KH_BODY_TOO_DEEP
 *   (deep values overflow the recursive walks after parsing: serialisers,
 *   redaction, audit);
 * - size bound of a schema: the largest JSON text a schema can accept, from
 *   its maxLength / maxItems / maxProperties, so a route's body limit can be
 *   no larger than what its schema could ever accept.
 */
import { KeyholdError } from '../errors.js';

/** No route takes a body nested deeper than a few levels; 32 leaves room for every compat surface. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether `text` (JSON, as bytes or a string) opens more than `max` arrays or
 * objects at once. Malformed JSON is not judged here: the parser refuses it.
 * Strings are skipped with indexOf (native, so a large body costs little
 * more than a copy); a quote is escaped when an odd run of backslashes
 * precedes it, and each run is looked at once, so the scan stays linear.
 */
export function jsonDepthExceeds(text: Uint8Array | string, max = MAX_JSON_DEPTH): boolean {
  if (typeof text !== 'string') {
    const b = Buffer.isBuffer(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    return scan(b.length, (i) => b[i]!, (from) => b.indexOf(QUOTE, from), max);
  }
  return scan(text.length, (i) => text.charCodeAt(i), (from) => text.indexOf('"', from), max);
}

function scan(n: number, at: (i: number) => number, nextQuote: (from: number) => number, max: number): boolean {
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = at(i);
    if (c === QUOTE) {
      // Find the closing quote: the next one not escaped.
      let from = i + 1;
      for (;;) {
        const q = nextQuote(from);
        if (q < 0) return false;
        let k = q - 1;
        while (k > i && at(k) === BACKSLASH) k--;
        if ((q - 1 - k) % 2 === 0) {
          i = q + 1;
          break;
        }
        from = q + 1;
      }
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
    i++;
  }
  return false;
}

/** @throws KeyholdError KH_BODY_TOO_DEEP */
export function checkJsonDepth(text: Uint8Array | string, max = MAX_JSON_DEPTH): void {
  if (jsonDepthExceeds(text, max)) throw new KeyholdError('KH_BODY_TOO_DEEP', `the request body nests arrays or objects more than ${max} levels deep`);
}

interface SchemaNode {
  type?: unknown;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  items?: unknown;
  properties?: Record<string, unknown>;
  patternProperties?: Record<string, unknown>;
  additionalProperties?: unknown;
  anyOf?: unknown[];
  oneOf?: unknown[];
  allOf?: unknown[];
  const?: unknown;
  enum?: unknown[];
}

/** Worst case per character in JSON text: a control character written as \u0000. */
const ESCAPED_CHAR = 6;
/** Longest JSON number text (e.g. -1.7976931348623157e+308). */
const NUMBER_TEXT = 24;

/**
 * The longest compact JSON text `schema` accepts, or Infinity when a string,
 * array or map in it is unbounded (or uses a keyword this does not know).
 * Whitespace between tokens is not counted: callers add slack for it.
 */
export function jsonSizeBound(schema: unknown, depth = 0): number {
  if (depth > MAX_JSON_DEPTH || schema === null || typeof schema !== 'object') return Infinity;
  const s = schema as SchemaNode;
  if (s.const !== undefined) return JSON.stringify(s.const).length * ESCAPED_CHAR;
  if (Array.isArray(s.enum)) return Math.max(0, ...s.enum.map((v) => JSON.stringify(v).length * ESCAPED_CHAR));
  const alternatives = s.anyOf ?? s.oneOf;
  if (Array.isArray(alternatives)) return Math.max(0, ...alternatives.map((a) => jsonSizeBound(a, depth + 1)));
  if (Array.isArray(s.allOf)) return Math.min(Infinity, ...s.allOf.map((a) => jsonSizeBound(a, depth + 1)));
  switch (s.type) {
    case 'string':
      return s.maxLength === undefined ? Infinity : 2 + s.maxLength * ESCAPED_CHAR;
    case 'integer':
    case 'number':
      return NUMBER_TEXT;
    case 'boolean':
      return 5;
    case 'null':
      return 4;
    case 'array': {
      if (s.maxItems === undefined) return Infinity;
      const item = s.items === undefined ? Infinity : jsonSizeBound(s.items, depth + 1);
      return 2 + s.maxItems * (item + 1);
    }
    case 'object': {
      let total = 2;
      for (const [name, value] of Object.entries(s.properties ?? {})) total += JSON.stringify(name).length * ESCAPED_CHAR + 2 + jsonSizeBound(value, depth + 1);
      const open = [...Object.values(s.patternProperties ?? {}), ...(typeof s.additionalProperties === 'object' ? [s.additionalProperties] : [])];
      if (open.length > 0 || s.additionalProperties === true || s.additionalProperties === undefined) {
        // Caller-named members (records): bounded only by maxProperties and a bounded name and value.
        if (s.maxProperties === undefined || open.length === 0) return Infinity;
        const value = Math.max(...open.map((v) => jsonSizeBound(v, depth + 1)));
        const name = (s as { propertyNames?: unknown }).propertyNames === undefined ? Infinity : jsonSizeBound((s as { propertyNames?: unknown }).propertyNames, depth + 1);
        total += s.maxProperties * (name + 2 + value);
      }
      return total;
    }
    default:
      return Infinity;
  }
}
