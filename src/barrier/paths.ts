/** Physical key layout of the barrier (the seal keeps its own records in seal/seal-config.ts). */
export const KEYRING_PATH = 'core/keyring';
export const LOGICAL_PREFIX = 'logical/';
