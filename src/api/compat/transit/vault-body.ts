/**
 * Request bodies on the transit surface, read as Vault reads them (Vault's
 * http/logical.go, buildLogicalRequestNoAuth and isForm): the Content-Type
 * header is not required and mostly not looked at. A body is JSON whatever
 * its declared type, except an application/x-www-form-urlencoded body that
 * does not start with `{` or `[` (after JSON whitespace), which is a form. An
 * empty or all-whitespace body is an empty request. So Vault's own examples
 * work as printed: `curl --data @payload.json` sends its JSON as a form type,
 * and clients send `Content-Type: application/json` with no body on rotate.
 *
 * The route's body limit still applies (Fastify reads at most that many bytes
 * before this parser runs) and JSON passes the same linear depth scan as
 * everywhere else (json-limits.ts) before it is parsed.
 *
 * Reading text/plain (or any type) as JSON means a browser page on another
 * site can send a transit request without a CORS preflight. That is safe only
 * because such a request carries no credential: transit authenticates from
 * the X-Vault-Token or Authorization header alone, which a cross-site page
 * cannot set without a preflight that Keyhold never grants. So transit must
 * never take ambient credentials: no cookie or session-cookie login, no
 * HTTP Basic/browser-cached auth, no client IP or mTLS identity standing in
 * for a token, and no CORS answer allowing credentials. Adding any of them
 * turns this parser into a cross-site request forgery of encrypt/decrypt/sign
 * (test/api/compat/transit-vault-clients.test.ts, the cross-site test).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import { jsonDepthExceeds } from '../../json-limits.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The first byte that is not JSON whitespace (RFC 8259 §2), or -1. */
function firstSignificant(body: Buffer): number {
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  }
  return -1;
}

function isFormType(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return typeof type === 'string' && type.split(';', 1)[0]!.trim().toLowerCase() === FORM_TYPE;
}

/**
 * A form as Vault takes it: one value as a string, repeated values joined
 * with commas. Names that could reach an object's prototype are not members.
 */
function parseForm(body: Buffer): Record<string, string> {
  const data: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(body.toString('utf8'))) {
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') throw new KeyholdError('KH_BAD_REQUEST', `the form field ${JSON.stringify(name)} is not allowed`);
    data[name] = name in data ? `${data[name]},${value}` : value;
  }
  return { ...data };
}

/** Replaces the transit plugin's body parsers (encapsulated: the rest of the API keeps its strict JSON). */
export function installVaultBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  // '*' is also the parser Fastify uses for a body without a Content-Type header.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, raw, done) => {
    const body = raw as Buffer;
    // A signed request's Content-Digest covers the bytes as sent (hooks.ts).
    if (request.digestRequired === true) request.rawBody = body;
    const first = firstSignificant(body);
    // Vault: an empty body is io.EOF, which it takes as no data; preValidation makes that {}.
    if (first === -1) return done(null, undefined);
    if (isFormType(request) && first !== 0x7b && first !== 0x5b) {
      try {
        return done(null, parseForm(body));
      } catch (e) {
        return done(e as Error, undefined);
      }
    }
    if (jsonDepthExceeds(body)) return done(new KeyholdError('KH_BODY_TOO_DEEP'), undefined);
    parseJson(request, body as unknown as string, done);
  });
}
