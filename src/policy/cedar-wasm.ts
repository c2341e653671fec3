/**
 * The one place that loads Cedar (`@cedar-policy/cedar-wasm`, its CommonJS
 * `nodejs` build, which reads its .wasm synchronously at import, ~80 ms), and
 * turns its diagnostics into one bounded line of text for error messages.
 */
import v8 from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { DetailedError } from '@cedar-policy/cedar-wasm/nodejs';

// V8 11.3 (Node 20) aborts the process ("Fatal error ... unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when optimized JS that inlined a
// JS->Wasm call is deoptimized while the Wasm call runs, which Cedar's
// callbacks into JS (serde-wasm-bindgen) provoke: a loop of uncached
// decisions crashed 5 runs in 10, and none in 14 with inlining off
// (test/policy/wasm-deopt-crash.test.ts). Turning the inlining off costs a
// wrapper call per Cedar call, nothing measurable next to ~100 µs a decision.
// It must be set before hot code calling Cedar is optimized, hence here.
v8.setFlagsFromString('--no-turbo-inline-js-wasm-calls');

export { cedar };
export type { AuthorizationAnswer, EntityJson, EntityUidJson, PolicyJson, SchemaJson } from '@cedar-policy/cedar-wasm/nodejs';

/** Longest diagnostic text put into an error message. */
export const MAX_DIAGNOSTIC_CHARS = 2000;

/** Cedar's messages (with help), joined and truncated; never a stack. */
export function describeDiagnostics(errors: readonly { policyId?: string; error?: DetailedError; message?: string; help?: string | null }[]): string {
  const lines = errors.map((e) => {
    const d: { message?: string; help?: string | null } = e.error ?? e;
    const where = e.policyId === undefined ? '' : `${e.policyId}: `;
    return `${where}${d.message ?? 'error'}${d.help ? ` (${d.help})` : ''}`;
  });
  const text = lines.join('; ');
  return text.length > MAX_DIAGNOSTIC_CHARS ? `${text.slice(0, MAX_DIAGNOSTIC_CHARS - 1)}…` : text;
}
