/**
 * The AWS KMS API (JSON 1.1 protocol) at `POST /` of the API port: the
 * operation is named by `X-Amz-Target: TrentService.<Operation>`, the body is
 * JSON (`Content-Type: application/x-amz-json-1.1`), blobs are base64 and
 * timestamps epoch seconds. docs/compat.md has the conformance table.
 *
 * One route serves every operation, so the per-route gate of hooks.ts cannot
 * apply: the route is `auth: 'none'` for that gate (it still needs an
 * unsealed vault), and this plugin gates each request itself, in the same
 * order: who (AWS Signature V4 against Keyhold access keys, mapped to users
 * and machines) -> may they (the policy engine, asked the /v1 catalogue
 * action of the operation about each key it names, apiSurface "aws-kms") ->
 * audit (audit-hooks.ts records the operation and the keys) -> the keys layer.
 *
 * Encapsulated: its own content-type parser (the raw body is kept for the
 * SigV4 payload hash, then parsed with Fastify's prototype-poisoning-safe
 * JSON parser), and errors in KMS's shape (kms-errors.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { KeyholdError } from '../../../errors.js';
import type { Principal } from '../../../auth/principal.js';
import { hasMfa } from '../../../auth/principal.js';
import type { SigV4Request } from '../../../auth/access-keys.js';
import type { PolicyEngine } from '../../../policy/policy-engine.js';
import { permittedItems, permittedPage } from '../../policy-ask.js';
import { isSealedMarker, openMarker, sealMarker } from '../../list-marker.js';
import { KmsError, sendKmsError } from './kms-errors.js';
import { checkInput } from './kms-inputs.js';
import type { KmsCaller, KmsDeps, KmsOperation } from './kms-operation.js';
import { kmsOperation } from './kms-operations.js';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../json-limits.js';
import { noteDenial } from '../../denial.js';

export const KMS_CONTENT_TYPE = 'application/x-amz-json-1.1';
/** The SigV4 service name of the KMS API. */
export const KMS_SERVICE = 'kms';
/** KMS requests are small (Encrypt takes 4 KiB, imported RSA-4096 keys ~3 KiB); 64 KiB leaves room for every member. */
export const KMS_BODY_LIMIT = 64 * 1024;

export interface KmsAuthenticator {
  authenticate(request: SigV4Request, service: string): Promise<{ principal: Principal }>;
}

export interface KmsPluginOptions extends KmsDeps {
  readonly accessKeys: KmsAuthenticator;
  readonly policy: Pick<PolicyEngine, 'authorize'>;
}

interface KmsCall {
  readonly name: string;
  readonly op: KmsOperation;
  readonly input: Record<string, unknown>;
  readonly names: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    kmsCall?: KmsCall;
  }
}

/** Whether a request is for the KMS API (router-level failures then answer in KMS's shape). */
export function isKmsRequest(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0];
  return path === '/' && (request.method === 'POST' || request.headers['x-amz-target'] !== undefined);
}

/** Fastify's frameworkErrors for KMS requests. */
export function kmsFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  void sendKmsError(request, reply, error);
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

export const kmsPlugin: FastifyPluginAsync<KmsPluginOptions> = async (app, options) => {
  const { accessKeys, policy, ...deps } = options;
  app.setErrorHandler((error, request, reply) => sendKmsError(request, reply, error));
  // Only KMS's content type is read here, and only as bytes: SigV4 hashes the body as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(KMS_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit: KMS_BODY_LIMIT }, (_request, body, done) => done(null, body));
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const json = (request: FastifyRequest, text: string): Promise<unknown> =>
    new Promise((resolve, reject) => parseJson(request, text, (err: Error | null, value?: unknown) => (err ? reject(err) : resolve(value))));
  // Named before the body is read, so a refusal while parsing is audited under its operation too.
  app.addHook('onRequest', async (request) => {
    const found = kmsOperation(header(request, 'x-amz-target'));
    if (found !== undefined) request.auditOperation = `kms:${found.name}`;
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-amzn-requestid', request.id);
    return payload;
  });

  async function authorize(request: FastifyRequest, principal: Principal, action: string, resource: { type: 'Key' | 'System'; id: string }): Promise<void> {
    const asked = {
      principal,
      action,
      resource,
      context: { mfa: hasMfa(principal), authMethods: principal.amr, sourceIp: request.ip, apiSurface: 'aws-kms', batch: false, e2e: request.channelOrigin !== undefined },
    };
    const decision = await policy.authorize(asked);
    if (!decision.allowed) {
      // AWS's own answer stays as it was; the audit entry says which policies decided.
      noteDenial(request, asked, decision);
      throw new KmsError('AccessDeniedException', `User: ${principal.type.toLowerCase()}:${principal.id} is not authorized to perform: kms:${request.auditOperation?.slice(4) ?? ''}`, 'KH_AUTH_PERMISSION_DENIED');
    }
  }

  /** Everything before the operation runs: operation, SigV4, input, keys, policy. Refusals here are audited as refused. */
  async function admit(request: FastifyRequest): Promise<void> {
    const found = kmsOperation(header(request, 'x-amz-target'));
    if (found === undefined) throw new KmsError('UnknownOperationException', 'The requested operation is not known to this service (X-Amz-Target: TrentService.<Operation>).', 'KH_NOT_FOUND');
    const { name, op } = found;
    request.auditOperation = `kms:${name}`;
    const type = header(request, 'content-type')?.split(';')[0]?.trim().toLowerCase();
    if (type !== KMS_CONTENT_TYPE) throw new KmsError('SerializationException', `Content-Type must be ${KMS_CONTENT_TYPE}`, 'KH_UNSUPPORTED_MEDIA_TYPE');
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const q = request.url.indexOf('?');
    const { principal } = await accessKeys.authenticate(
      { method: request.method, path: q < 0 ? request.url : request.url.slice(0, q), query: q < 0 ? '' : request.url.slice(q + 1), headers: request.headers, body: raw },
      KMS_SERVICE,
    );
    request.principal = principal;
    if (jsonDepthExceeds(raw)) throw new KmsError('SerializationException', `The request body nests more than ${MAX_JSON_DEPTH} levels deep`, 'KH_BODY_TOO_DEEP');
    const parsed = raw.length === 0 ? {} : await json(request, raw.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new KmsError('SerializationException', 'The request body must be a JSON object', 'KH_BAD_REQUEST');
    const input = checkInput(op.input, parsed) as Record<string, unknown>;
    request.body = input;
    let names: string[] = [];
    if ('system' in op.target) {
      await authorize(request, principal, op.action, { type: 'System', id: op.target.system });
    } else {
      const resolved = await op.target.keys(input, deps);
      // Every key is asked about before any is looked at: a caller who may not use a key learns nothing of it.
      for (const r of resolved) await authorize(request, principal, r.action ?? op.action, { type: 'Key', id: r.name ?? r.missing });
      const missing = resolved.find((r) => r.name === undefined);
      if (missing !== undefined) throw new KmsError('NotFoundException', `Alias ${deps.ids.aliasArn(missing.missing!)} is not found.`, 'KH_KEY_ALIAS_NOT_FOUND');
      names = resolved.map((r) => r.name!);
    }
    request.auditKeys = names;
    request.kmsCall = { name, op, input, names };
  }

  app.post(
    '/',
    {
      // Authenticated and authorised per operation by admit() (SigV4 + policy); see the header comment.
      // Not public, so not under the per-address limit of public routes: a KMS client makes many calls.
      config: { auth: 'none', publicRateLimit: false },
      bodyLimit: KMS_BODY_LIMIT,
      schema: {
        operationId: 'awsKms',
        tags: ['aws-kms'],
        summary: 'AWS KMS API (JSON 1.1): X-Amz-Target TrentService.<Operation>, SigV4 with Keyhold access keys; see docs/compat.md',
        response: { 200: Type.Object({}, { additionalProperties: true, description: "The operation's KMS output" }) },
      },
      preValidation: async (request) => admit(request),
    },
    async (request, reply) => {
      const call = request.kmsCall;
      if (call === undefined) throw new KeyholdError('KH_INTERNAL', 'KMS request without admission');
      if (call.input.DryRun === true) {
        for (const n of call.names) (await deps.keys.get(n)).checkUsable();
        throw new KmsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.', 'KH_BAD_REQUEST');
      }
      const caller: KmsCaller = {
        readable: (names) => permittedItems(policy, request, 'aws-kms', 'readKey', names, (id) => ({ type: 'Key', id })),
        async page(scope, sorted, limit, nameOf, keyOf) {
          const page = await permittedPage(policy, request, 'aws-kms', 'readKey', sorted, { limit, nameOf, resourceOf: (item) => ({ type: 'Key', id: keyOf(item) }) });
          const next = page.next === undefined ? undefined : 'visible' in page.next ? page.next.visible : sealMarker(scope, page.next.scanned);
          return { items: page.items, ...(next !== undefined && { next }) };
        },
        resumeAfter(scope, marker) {
          if (!isSealedMarker(marker)) return marker;
          try {
            return openMarker(scope, marker);
          } catch {
            throw new KmsError('InvalidMarkerException', 'The marker is not valid', 'KH_LIST_MARKER_INVALID');
          }
        },
      };
      const output = await call.op.run(deps, call.input, call.names, caller);
      return reply.code(200).header('cache-control', 'no-store').type(KMS_CONTENT_TYPE).serializer(JSON.stringify).send(output);
    },
  );
};
