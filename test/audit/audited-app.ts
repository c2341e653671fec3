/**
 * Shared by the audit tests that run a whole node: a server app writing its
 * audit log to `dir`/audit.log, with its own log lines captured so a test can
 * look for the alert and check that no stack reaches them.
 */
import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold, type BuildOptions, type KeyholdApp } from '../../src/api/keyhold-app.js';
import { initVault, unsealVault } from '../helpers/keyhold.js';

export interface AuditedApp {
  app: KeyholdApp;
  file: string;
  logLines: string[];
}

/** A server app on `dir`/k.db with an audit file (at the server's checkpoint cadence unless `checkpointEvery` is given) and its log lines at `level` captured. */
export async function auditedApp(
  t: Pick<TestContext, 'after'>,
  dir: string,
  { level = 'error', checkpointEvery }: { level?: 'error' | 'debug'; checkpointEvery?: number } = {},
): Promise<AuditedApp> {
  const file = join(dir, 'audit.log');
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const audit = checkpointEvery === undefined ? { file } : { file, checkpointEvery };
  const config = resolveConfig({ storage: { path: join(dir, 'k.db') }, log: { level }, audit });
  const app = await buildKeyhold(config, { logger: { level, stream } } as unknown as BuildOptions);
  t.after(() => app.close());
  return { app, file, logLines };
}

/** auditedApp, initialised with one share and unsealed. */
export async function unsealedAuditedApp(
  t: Pick<TestContext, 'after'>,
  dir: string,
  options: Parameters<typeof auditedApp>[2] = {},
): Promise<AuditedApp & { shares: string[]; rootToken: string }> {
  const audited = await auditedApp(t, dir, options);
  const { shares, rootToken } = await initVault(audited.app, 1, 1);
  await unsealVault(audited.app, shares);
  return { ...audited, shares, rootToken };
}

/** The app's Prometheus lines that start with `name`. */
export async function metric(app: KeyholdApp, name: string): Promise<string[]> {
  return (await app.services.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}
