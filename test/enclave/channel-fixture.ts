/** A running vault with the simulated enclave and its channel key, for the channel tests. */
import type { TestContext } from 'node:test';
import { runningVault } from '../helpers/keyhold.js';
import { fetchServerKey, type ServerKey } from './independent-e2e-client.js';

export interface Channel {
  readonly apiUrl: string;
  readonly key: ServerKey;
  readonly rootToken: string;
}

export async function channel(t: TestContext): Promise<Channel> {
  const { server, rootToken } = await runningVault(t, { enclave: { provider: 'simulated' } });
  return { apiUrl: server.apiUrl, key: await fetchServerKey(server.apiUrl), rootToken };
}
