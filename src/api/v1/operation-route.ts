/**
 * One definition per key operation gives two routes with one behaviour:
 *   POST /v1/keys/:name/<op>        one item in, one result out
 *   POST /v1/keys/:name/<op>/batch  { items: [...] } in, { results: [...] } out,
 *                                   order preserved, each result either the
 *                                   item's output or { error: { code, message } }.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { KeyholdError } from '../../errors.js';
import type { KeyManager } from '../../keys/key-manager.js';
import type { ManagedKey } from '../../keys/managed-key.js';
import { toKeyholdError } from '../error-handler.js';
import { responses } from '../schemas.js';
import { KeyNameParams } from './key-schemas.js';

export const MAX_BATCH_ITEMS = 1000;

const ItemError = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false }) },
  { additionalProperties: false },
);

export interface OperationDefinition<I extends TObject, O extends TObject> {
  op: string;
  operationId: string;
  summary: string;
  item: I;
  result: O;
  /** Body limit of the single-item route; the batch route allows `batchBodyLimit`. */
  bodyLimit: number;
  batchBodyLimit: number;
  run(key: ManagedKey, item: Static<I>): Static<O> | Promise<Static<O>>;
}

export function registerOperation<I extends TObject, O extends TObject>(app: FastifyInstance, keys: KeyManager, def: OperationDefinition<I, O>): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const config = { auth: 'token' } as const;
  api.post(
    `/v1/keys/:name/${def.op}`,
    {
      config,
      bodyLimit: def.bodyLimit,
      schema: { operationId: def.operationId, tags: ['crypto'], summary: def.summary, params: KeyNameParams, body: def.item, response: responses({ 200: def.result }) },
    },
    async (req) => def.run(await keys.get(req.params.name), req.body as Static<I>),
  );
  api.post(
    `/v1/keys/:name/${def.op}/batch`,
    {
      config,
      bodyLimit: def.batchBodyLimit,
      schema: {
        operationId: `${def.operationId}Batch`,
        tags: ['crypto'],
        summary: `${def.summary} — batch of up to ${MAX_BATCH_ITEMS} items, per-item results`,
        params: KeyNameParams,
        // The item count is a schema limit: validation refuses an oversized batch before any handler or audit entry sees it.
        body: Type.Object({ items: Type.Array(def.item, { minItems: 1, maxItems: MAX_BATCH_ITEMS }) }, { additionalProperties: false }),
        response: responses({ 200: Type.Object({ results: Type.Array(Type.Union([def.result, ItemError])) }, { additionalProperties: false }) }),
      },
    },
    async (req) => {
      const items = (req.body as { items: Static<I>[] }).items;
      if (items.length === 0) throw new KeyholdError('KH_BATCH_EMPTY');
      if (items.length > MAX_BATCH_ITEMS) throw new KeyholdError('KH_BATCH_TOO_LARGE');
      // Key-level problems (absent, disabled) fail the whole request; item-level ones fail the item.
      const key = await keys.get(req.params.name);
      key.checkUsable();
      const results: (Static<O> | Static<typeof ItemError>)[] = [];
      for (const item of items) {
        try {
          results.push(await def.run(key, item));
        } catch (e) {
          const kh = toKeyholdError(e);
          if (kh.status >= 500) throw e;
          results.push({ error: { code: kh.code, message: kh.message } });
        }
      }
      return { results };
    },
  );
}
