/**
 * keyhold/client: the TypeScript SDK.
 *
 * ```ts
 * import { KeyholdClient } from 'keyhold/client';
 * const vault = new KeyholdClient({ baseUrl, token, e2e: { expectedPcrs: { 0: pcr0 } } });
 * const ct = await vault.encrypt('payments', 'card 4111');
 * ```
 */
export { KeyholdClient, type KeyholdClientOptions, type KeyInfo, type EncryptOptions } from './keyhold-client.js';
export { E2eChannel, type AttestationVerifier, type AttestationToVerify, type ChannelRequest, type E2eChannelOptions } from './channel.js';
export { KeyholdClientError, type ClientErrorCode } from './client-error.js';
export type { PinnedMeasurements } from './nitro-verifier.js';
export type { InnerResponse } from '../crypto/e2e/protocol.js';
