/**
 * One VSSM endpoint: `POST /REST/v1/<path>` taking one protobuf-JSON message
 * and answering another, behind one gate (vssm-plugin.ts runs the gates):
 * - 'client': a trusted client certificate is the caller; Cedar is asked
 *   `action` on the key the body names;
 * - 'admin': a trusted client certificate, and the administrator password in
 *   the body makes the caller vssm-admin; Cedar is asked `action` on the key
 *   the body names (resource 'key') or on a System area;
 * - 'bootstrap': a trusted client certificate; answers while sealed (the call
 *   proves itself with the transport private key, cluster/transport-key.ts).
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SystemId } from '../../../policy/actions.js';
import { messageSchema, readMessage, type MessageShape, type MessageValue } from './proto-json.js';
import { VssmErrorBody } from './vssm-shape.js';

export type VssmGate = 'client' | 'admin' | 'bootstrap';

export interface VssmRouteConfig {
  readonly gate: VssmGate;
  /** The catalogue action Cedar is asked (not for bootstrap). */
  readonly action?: string;
  /** 'key': the key named by the body's keyName; else a System area. */
  readonly resource?: 'key' | SystemId;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    vssm?: VssmRouteConfig;
  }
}

export interface VssmRouteSpec<M extends MessageShape> extends VssmRouteConfig {
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly request: M;
  readonly response: TObject;
  /** Largest bytes field, for the schema's string limits and the body limit. */
  readonly maxBytes: number;
  handler(request: FastifyRequest, message: MessageValue<M>): Promise<Record<string, unknown>> | Record<string, unknown>;
}

export const tags = ['vssm'];

export function vssmRoute<M extends MessageShape>(app: FastifyInstance, spec: VssmRouteSpec<M>): void {
  const { gate, action, resource } = spec;
  app.post(
    spec.path,
    {
      // The token gate (hooks.ts) has nothing to do here: the plugin's own gates authenticate and ask Cedar.
      // Not public: a trusted client certificate is every caller (vssm-plugin.ts), so no per-address public limit.
      config: { auth: 'none', publicRateLimit: false, allowSealed: gate === 'bootstrap', vssm: { gate, ...(action !== undefined && { action }), ...(resource !== undefined && { resource }) } },
      bodyLimit: Math.ceil(spec.maxBytes / 3) * 4 * 2 + 64 * 1024,
      schema: {
        operationId: spec.operationId,
        tags,
        summary: spec.summary,
        body: messageSchema(spec.request, spec.maxBytes),
        response: { 200: spec.response, '4xx': VssmErrorBody, '5xx': VssmErrorBody },
      },
    },
    async (request) => spec.handler(request, readMessage(spec.request, request.body)),
  );
}

/** A response message with these optional fields (proto3 JSON omits defaults). */
export const reply = (fields: Record<string, TSchema>): TObject =>
  Type.Object(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Type.Optional(v)])), { additionalProperties: false });
