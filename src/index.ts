/**
 * Keyhold as a library: build or start a server in-process, and the building
 * blocks a host application may need.
 */
export { KeyholdError, ERROR_CODES, type ErrorCode } from './errors.js';
export { VERSION } from './version.js';
export { resolveConfig, loadConfigFile } from './config/load-config.js';
export type { KeyholdConfig } from './config/config-schema.js';
export { buildKeyhold, type KeyholdApp, type KeyholdServices } from './api/keyhold-app.js';
export { startServer, type RunningKeyhold } from './api/server.js';
export type { PhysicalBackend, StorageOp } from './storage/backend.js';
export { SqliteBackend } from './storage/sqlite-backend.js';
