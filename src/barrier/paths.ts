/** Physical key layout shared by barrier and seal. */
export const CORE_PREFIX = 'core/';
export const KEYRING_PATH = 'core/keyring';
export const LOGICAL_PREFIX = 'logical/';
