/**
 * The `nsm` attestation provider: documents from the Nitro Security Module of
 * the AWS Nitro enclave this process runs in. The NSM builds and signs the
 * document itself (docs/protocols.md §2 format); this side only frames the request,
 * checks the answer and hands the bytes on. Verification is the verifier's
 * job (src/attestation/nitro), not done here: a document this provider
 * returns is only known to be a structurally sound COSE_Sign1.
 */
import { AttestationError } from '../errors.js';
import { decodeCoseSign1 } from '../nitro/cose-sign1.js';
import type { AttestationProvider, AttestationRequest } from '../provider.js';
import { decodeNsmResponse, encodeNsmRequest, nsmFail } from './nsm-messages.js';
import type { NsmRequest, NsmResponse } from './nsm-messages.js';
import { createHelperTransport } from './nsm-transport.js';
import type { NsmTransport } from './nsm-transport.js';

/**
 * The PCRs an enclave reports (AWS Nitro Enclaves User Guide, "Where to get an
 * enclave's measurements"): 0 image, 1 kernel and bootstrap, 2 application,
 * 3 parent's IAM role, 4 parent's instance ID, 8 image signing certificate.
 */
export const NSM_PCR_INDEXES: readonly number[] = [0, 1, 2, 3, 4, 8];
/** Nitro PCRs are SHA-384 (docs/protocols.md §2: pcrs map uint -> 48 bytes). */
const PCR_BYTES = 48;

export interface NsmProviderOptions {
  /** Helper executable (default /usr/local/bin/keyhold-nsm). Ignored when `run` is given. */
  readonly helperPath?: string;
  /** Per exchange, including the helper's start (default 5000). Ignored when `run` is given. */
  readonly timeoutMs?: number;
  /** The transport; tests inject a fake device here. */
  readonly run?: NsmTransport;
}

export function createNsmProvider(options: NsmProviderOptions = {}): AttestationProvider {
  const run =
    options.run ??
    createHelperTransport({
      ...(options.helperPath === undefined ? {} : { helperPath: options.helperPath }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  let closed = false;

  /** One request/response; an NSM `Error` and a wrong variant become failures here. */
  async function exchange(request: NsmRequest): Promise<NsmResponse> {
    if (closed) return nsmFail('closed', 'the nsm provider was closed');
    const bytes = encodeNsmRequest(request);
    let raw: Uint8Array;
    try {
      raw = await run(bytes);
    } catch (e) {
      // The helper transport already throws AttestationErrors; an injected one might not.
      if (e instanceof AttestationError) throw e;
      return nsmFail('helper-failed', 'the transport threw', { cause: e });
    }
    const response = decodeNsmResponse(raw);
    if (response.type === 'Error') return nsmFail('nsm-error', `the NSM answered Error(${response.code})`, { nsmError: response.code });
    if (response.type !== request.type) return nsmFail('response-unexpected', `${response.type} in answer to ${request.type}`);
    return response;
  }

  return {
    kind: 'nsm',

    async attest(request: AttestationRequest): Promise<Uint8Array> {
      const response = await exchange({ type: 'Attestation', userData: request.userData, nonce: request.nonce, publicKey: request.publicKey });
      if (response.type !== 'Attestation') return nsmFail('response-unexpected', response.type);
      // Refuse to hand out something no verifier could parse; the signature and chain are checked by whoever verifies it.
      try {
        decodeCoseSign1(response.document);
      } catch (e) {
        return nsmFail('response-malformed', 'the document is not a COSE_Sign1 with alg ES384', { cause: e });
      }
      return response.document;
    },

    async pcrs(): Promise<ReadonlyMap<number, Uint8Array>> {
      const result = new Map<number, Uint8Array>();
      // One at a time: six helper processes in parallel buy nothing for a call made at start and on demand.
      for (const index of NSM_PCR_INDEXES) {
        const response = await exchange({ type: 'DescribePCR', index });
        if (response.type !== 'DescribePCR') return nsmFail('response-unexpected', response.type);
        if (response.data.length !== PCR_BYTES) {
          return nsmFail('response-malformed', `PCR${index} has ${response.data.length} bytes, not ${PCR_BYTES} (SHA-384)`);
        }
        result.set(index, response.data);
      }
      return result;
    },

    close(): Promise<void> {
      // Nothing is held open (one helper process per exchange); refuse further use so a stale handle fails loudly.
      closed = true;
      return Promise.resolve();
    },
  };
}
