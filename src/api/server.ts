/**
 * Runs a built Keyhold: listens on the API and health ports and shuts down
 * gracefully on SIGTERM/SIGINT (in-flight requests finish, keys are wiped,
 * storage is closed), with a hard stop after `shutdownTimeoutMs`.
 */
import type { KeyholdConfig } from '../config/config-schema.js';
import { KeyholdError } from '../errors.js';
import { buildKeyhold, type BuildOptions, type KeyholdApp } from './keyhold-app.js';

export interface RunningKeyhold extends KeyholdApp {
  /** e.g. http://127.0.0.1:8080 (the real port when 0 was configured) */
  readonly apiUrl: string;
  readonly healthUrl: string;
}

function urlOf(app: KeyholdApp['api'], tls: boolean): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

/**
 * A listen failure an operator can fix, said in the operator's terms: which
 * listener, which port, and the flag and configuration key that move it
 * (the bare EADDRINUSE used to surface as KH_INTERNAL).
 */
function listenError(e: unknown, listener: 'api' | 'health', host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host}:${port}`;
  const move = `--${listener}-port or listeners.${listener}.port (env KEYHOLD_${listener.toUpperCase()}_PORT)`;
  if (code === 'EADDRINUSE')
    return new KeyholdError('KH_LISTEN_ADDRESS_IN_USE', `the ${listener} port ${port} (${where}) is already in use by another process: stop it, or choose another port with ${move}`, { cause: e });
  if (code === 'EACCES')
    return new KeyholdError('KH_CONFIG_INVALID', `not allowed to listen on the ${listener} port ${port} (${where}; ports below 1024 need privileges): choose another port with ${move}`, { cause: e });
  if (code === 'EADDRNOTAVAIL')
    return new KeyholdError('KH_CONFIG_INVALID', `cannot listen on ${where}: ${host} is not an address of this machine (listeners.${listener}.host)`, { cause: e });
  return e;
}

export async function startServer(config: KeyholdConfig, options: BuildOptions = {}): Promise<RunningKeyhold> {
  const app = await buildKeyhold(config, options);
  const { api, health } = config.listeners;
  try {
    await app.api.listen({ host: api.host, port: api.port }).catch((e: unknown) => {
      throw listenError(e, 'api', api.host, api.port);
    });
    await app.health.listen({ host: health.host, port: health.port }).catch((e: unknown) => {
      throw listenError(e, 'health', health.host, health.port);
    });
  } catch (e) {
    await app.close();
    throw e;
  }
  // TLS from listeners.api.tls, or in VSSM mode from the transport certificate (compat.vssm.rpcCertificate).
  const tls = config.listeners.api.tls !== undefined || config.compat.vssm?.rpcCertificate !== undefined;
  return { ...app, apiUrl: urlOf(app.api, tls), healthUrl: urlOf(app.health, false) };
}

/** Installs SIGTERM/SIGINT handlers that close `app` and exit. */
export function handleSignals(app: KeyholdApp, timeoutMs: number, onExit: (code: number) => void = (c) => process.exit(c)): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.api.log.info({ signal }, 'shutting down: finishing in-flight requests, then sealing');
    const timer = setTimeout(() => {
      app.api.log.error('shutdown timed out; exiting');
      app.services.barrier.seal();
      onExit(1);
    }, timeoutMs);
    timer.unref();
    app.close().then(
      () => onExit(0),
      (e: unknown) => {
        app.api.log.error({ err: e }, 'error during shutdown');
        onExit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
