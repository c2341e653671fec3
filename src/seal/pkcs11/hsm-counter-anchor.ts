/**
 * The HSM rollback anchor (issue 15, H3): the latest storage generation,
 * kept in a private data object on the pkcs11 seal's token, where the host's
 * disk cannot roll it back. The barrier batches its updates (barrier/anchors.ts):
 * the HSM is never on a write's path, and lags the database by at most one
 * object rewrite.
 */
import type { RollbackAnchor } from '../../storage/rollback-anchor.js';
import type { Pkcs11Client } from './pkcs11-client.js';
import { blobGeneration } from '../../barrier/anchors.js';

/** The data object's label on the token. */
export const COUNTER_LABEL = 'keyhold-storage-generation';
const ADOPT = 'adopt';

export class HsmCounterAnchor implements RollbackAnchor {
  readonly name = 'hsm-counter';
  readonly bit = 2;
  readonly #client: () => Promise<Pkcs11Client>;

  constructor(client: () => Promise<Pkcs11Client>) {
    this.#client = client;
  }

  async read(): Promise<Uint8Array | 'adopt' | undefined> {
    const values = await (await this.#client()).readDataObjects(COUNTER_LABEL);
    // An HSM officer adopts a restored database by writing "adopt" into the object.
    if (values.some((v) => Buffer.from(v).toString('latin1').trim() === ADOPT)) return ADOPT;
    // Two objects: a write was cut between create and destroy; the later generation is the new one.
    return values.sort((a, b) => (blobGeneration(b) ?? -1) - (blobGeneration(a) ?? -1))[0];
  }

  async write(value: Uint8Array): Promise<void> {
    await (await this.#client()).writeDataObject(COUNTER_LABEL, value);
  }
}
