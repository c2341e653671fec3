/**
 * The agent's template language: plain text with `{{ secret "PATH" "FIELD" }}`
 * directives, replaced by that field of that secret. Nothing else is
 * evaluated: no expressions, no loops, no functions, no environment access,
 * so a template cannot run code or read anything the agent was not told to
 * fetch. A literal `{{` is written `{{ "{{" }}`. Anything between `{{` and
 * `}}` that is not one of these two forms is an error, so a typo never
 * renders silently as empty text; so is a reference to a secret or field the
 * agent did not fetch.
 */
import { CliError } from '../http-client.js';

export type SecretValues = ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>;

const DIRECTIVE = /\{\{(.*?)\}\}/gs;
const SECRET = /^\s*secret\s+"([^"\\]{1,512})"\s+"([^"\\]{1,256})"\s*$/;
const LITERAL_OPEN = /^\s*"\{\{"\s*$/;

/** One `{{ secret "p" "f" }}` reference of a template (to know what it needs before fetching). */
export interface TemplateReference {
  path: string;
  field: string;
}

function parse(template: string, name: string): (string | TemplateReference)[] {
  const parts: (string | TemplateReference)[] = [];
  let last = 0;
  for (const m of template.matchAll(DIRECTIVE)) {
    parts.push(template.slice(last, m.index));
    last = m.index + m[0].length;
    const body = m[1] as string;
    if (LITERAL_OPEN.test(body)) {
      parts.push('{{');
      continue;
    }
    const s = SECRET.exec(body);
    if (s === null) throw new CliError('KH_AGENT_TEMPLATE_INVALID', `template ${name}: "{{${body.slice(0, 60)}}}" is not {{ secret "PATH" "FIELD" }}`, 2);
    parts.push({ path: s[1] as string, field: s[2] as string });
  }
  const rest = template.slice(last);
  // An opening brace pair left over means an unclosed directive.
  if (rest.includes('{{')) throw new CliError('KH_AGENT_TEMPLATE_INVALID', `template ${name}: a "{{" is never closed`, 2);
  parts.push(rest);
  return parts;
}

/** The secret fields a template uses; throws KH_AGENT_TEMPLATE_INVALID for a malformed one. */
export function templateReferences(template: string, name: string): TemplateReference[] {
  return parse(template, name).filter((p): p is TemplateReference => typeof p !== 'string');
}

/**
 * Renders to bytes (the caller wipes them after writing). A value that is not
 * UTF-8 text (a binary file) cannot be spliced into text and is refused.
 */
export function renderTemplate(template: string, name: string, values: SecretValues): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parse(template, name)) {
    if (typeof part === 'string') {
      chunks.push(Buffer.from(part, 'utf8'));
      continue;
    }
    const value = values.get(part.path)?.get(part.field);
    if (value === undefined) throw new CliError('KH_AGENT_TEMPLATE_MISSING', `template ${name}: secret "${part.path}" has no field "${part.field}"`);
    const text = Buffer.from(value);
    if (!isUtf8(text)) throw new CliError('KH_AGENT_TEMPLATE_INVALID', `template ${name}: field "${part.field}" of "${part.path}" is binary; deliver it as a file`);
    chunks.push(text);
  }
  const out = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return out;
}

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
