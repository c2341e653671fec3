/**
 * The simulated enclave: attestation documents in exactly the AWS Nitro format
 * (untagged COSE_Sign1, ES384, the Nitro payload map; docs/protocols.md §2) with
 * `module_id` "keyhold-sim-<random>", PCRs measured from the installed build,
 * signed by a per-process leaf under the simulated root. Clients and tests
 * therefore run the same verifier code as against a real enclave.
 */
import { randomBytes, sign } from 'node:crypto';
import { encode } from 'cborg';
import { COSE_ALG_ES384, sigStructure } from '../nitro/cose-sign1.js';
import { fail } from '../errors.js';
import { MAX_ATTESTATION_FIELD_BYTES, type AttestationProvider, type AttestationRequest } from '../provider.js';
import { measureBuild } from './measure.js';
import { issueLeaf, loadOrCreateRoot, type SimulatedLeaf, type SimulatedRoot } from './simulated-root.js';

export const SIMULATED_MODULE_PREFIX = 'keyhold-sim-';
/** Re-issue the leaf this long before it expires, so a document is never signed by a nearly dead certificate. */
const LEAF_RENEW_MARGIN_MS = 3600 * 1000;

export interface SimulatedProviderOptions {
  /** Folder of the simulated root (created on first start). */
  readonly rootDir: string;
  /** Override the measured PCRs (tests that simulate another build). */
  readonly pcrs?: ReadonlyMap<number, Uint8Array>;
  /** Override the module id (must start with keyhold-sim-). */
  readonly moduleId?: string;
}

export interface SimulatedProvider extends AttestationProvider {
  readonly kind: 'simulated';
  readonly moduleId: string;
  /** PEM of the simulated root: what a verifier must be configured to trust. */
  readonly rootCertificatePem: string;
}

function checkField(name: string, value: Uint8Array | undefined): void {
  if (value !== undefined && (!(value instanceof Uint8Array) || value.length > MAX_ATTESTATION_FIELD_BYTES)) {
    throw new TypeError(`${name} must be a Uint8Array of at most ${MAX_ATTESTATION_FIELD_BYTES} bytes`);
  }
}

export async function createSimulatedProvider(options: SimulatedProviderOptions): Promise<SimulatedProvider> {
  const moduleId = options.moduleId ?? `${SIMULATED_MODULE_PREFIX}${randomBytes(8).toString('hex')}`;
  if (!moduleId.startsWith(SIMULATED_MODULE_PREFIX)) throw new TypeError(`a simulated module id starts with ${SIMULATED_MODULE_PREFIX}`);
  const pcrs = options.pcrs ?? measureBuild().pcrs;
  let root: SimulatedRoot;
  let leaf: SimulatedLeaf;
  try {
    root = await loadOrCreateRoot(options.rootDir);
    leaf = await issueLeaf(root, moduleId);
  } catch (e) {
    return fail('KH_ATTESTATION_PROVIDER_FAILED', 'the simulated root could not be loaded or created', e);
  }
  // The protected header is serialized once; its bytes are what the signature covers.
  const protectedBytes = encode(new Map([[1, COSE_ALG_ES384]]));
  let renewing: Promise<void> | undefined;

  async function currentLeaf(): Promise<SimulatedLeaf> {
    if (Date.now() < leaf.notAfter - LEAF_RENEW_MARGIN_MS) return leaf;
    renewing ??= issueLeaf(root, moduleId)
      .then((next) => {
        leaf = next;
      })
      .finally(() => {
        renewing = undefined;
      });
    await renewing;
    return leaf;
  }

  return {
    kind: 'simulated',
    moduleId,
    rootCertificatePem: root.certificatePem,
    async attest(request: AttestationRequest): Promise<Uint8Array> {
      checkField('publicKey', request.publicKey);
      checkField('userData', request.userData);
      checkField('nonce', request.nonce);
      const signer = await currentLeaf();
      // Key order as the NSM emits it; absent optional fields are CBOR null, as on Nitro.
      const payload = encode(
        new Map<string, unknown>([
          ['module_id', moduleId],
          ['digest', 'SHA384'],
          ['timestamp', Date.now()],
          ['pcrs', new Map(pcrs)],
          ['certificate', new Uint8Array(signer.certificate.raw)],
          ['cabundle', [new Uint8Array(root.certificate.raw)]],
          ['public_key', request.publicKey ?? null],
          ['user_data', request.userData ?? null],
          ['nonce', request.nonce ?? null],
        ]),
        { mapSorter: () => 0 },
      );
      const unsigned = { protectedBytes, payload, signature: new Uint8Array(0) };
      const signature = sign('sha384', sigStructure(unsigned), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' });
      return encode([protectedBytes, new Map(), payload, new Uint8Array(signature)]);
    },
    pcrs: () => Promise.resolve(pcrs),
    close: () => Promise.resolve(),
  };
}
