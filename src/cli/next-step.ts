/**
 * The startup line's advice: what the operator should do next, from the
 * seal status right after the node started listening. The automatic seals
 * (pkcs11, enclave) have already made their first unseal attempt by then
 * (AutoUnsealer.start resolves after it), so a node that unsealed itself is
 * never told to be unsealed, and one that could not says why and whether it
 * keeps trying.
 */
import type { SealStatus } from '../seal/seal-manager.js';

export function nextStep(status: SealStatus, options: { vssmBootstrap?: boolean } = {}): string {
  if (options.vssmBootstrap === true) return 'waiting for bootstrap: POST /REST/v1/admin/bootstrap with the rpcPrivateKey';
  if (!status.initialized) return 'not initialized: run `keyhold operator init`';
  const shares = status.recoverySeal ? 'recovery shares' : 'unseal shares';
  const why = status.autoUnseal === undefined ? '' : ` (${status.autoUnseal.code})`;
  if (status.migration) return `sealed${why}: the configured seal differs from the stored ${status.type} seal: run \`keyhold operator unseal --migrate\` with the ${shares}`;
  if (!status.sealed) return status.recoverySeal ? `unsealed by the ${status.type} seal; it unseals itself at every start` : 'unsealed';
  if (!status.recoverySeal) return 'sealed: run `keyhold operator unseal`';
  // An automatic seal that has not unsealed yet.
  const auto = status.autoUnseal;
  if (auto === undefined) return `sealed (manually): run \`keyhold operator unseal\` with the recovery shares`;
  if (auto.state === 'retrying') return `sealed: automatic unseal by the ${status.type} seal failed (${auto.code}) and is retried with backoff; it unseals itself once the cause is fixed (GET /v1/sys/seal-status says why)`;
  return `sealed: automatic unseal by the ${status.type} seal stopped (${auto.code}), a retry cannot help: fix the configuration and restart (GET /v1/sys/seal-status says why)`;
}
