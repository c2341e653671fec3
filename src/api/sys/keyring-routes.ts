/** /v1/sys/rotate and /v1/sys/key-status: barrier keyring terms. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SealManager } from '../../seal/seal-manager.js';
import type { Barrier } from '../../barrier/barrier.js';
import { responses } from '../schemas.js';

const KeyStatusBody = Type.Object(
  {
    term: Type.Integer({ description: 'Active keyring term; new records are encrypted under it' }),
    installTime: Type.String({ format: 'date-time' }),
    terms: Type.Integer({ description: 'Terms held (older ones still decrypt existing records)' }),
  },
  { additionalProperties: false },
);

export const keyringRoutes: FastifyPluginAsyncTypebox<{ seal: SealManager; barrier: Barrier }> = async (app, { seal, barrier }) => {
  const status = () => {
    const s = barrier.keyStatus();
    return { term: s.term, installTime: s.installedAt.toISOString(), terms: s.terms };
  };
  app.get(
    '/v1/sys/key-status',
    { config: { auth: 'token' }, schema: { operationId: 'keyStatus', tags: ['sys'], summary: 'Active keyring term', response: responses({ 200: KeyStatusBody }) } },
    async () => status(),
  );
  app.post(
    '/v1/sys/rotate',
    {
      config: { auth: 'token' },
      schema: { operationId: 'rotate', tags: ['sys'], summary: 'Add a keyring term and make it active (no downtime)', response: responses({ 200: KeyStatusBody }) },
    },
    async () => {
      await seal.rotate();
      return status();
    },
  );
};
