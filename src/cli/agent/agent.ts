/**
 * `keyhold agent`: the attestation shim (docs/agent.md). In order:
 *
 * 1. prepares the output directory (memory-backed unless allowed otherwise)
 *    and parses every template, so configuration mistakes fail before any
 *    network traffic;
 * 2. verifies the vault's own attestation against the pinned PCRs;
 * 3. proves this workload with a fresh local attestation document and logs in
 *    (a short-lived token bound to a key that exists only in this process);
 * 4. fetches the configured secrets (plus every secret a template names);
 * 5. writes files (0600) and renders templates, builds the environment;
 * 6. starts the workload (`-- CMD ARGS`) or, without a command, stays as a
 *    daemon; either way it re-fetches every refresh.intervalSeconds, rewrites
 *    what changed and signals the workload;
 * 7. on exit (the workload's, or a signal) wipes every file it wrote.
 *
 * Steps 2-4 retry with exponential backoff while the vault is unreachable or
 * sealed; a refusal (attestation mismatch, login refused, secret not allowed)
 * is final at once. Secret values never reach a log line: the agent logs
 * paths, field names and versions only.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CliError } from '../http-client.js';
import type { AgentConfig } from './agent-config.js';
import { OutputDir } from './output-dir.js';
import { renderTemplate, templateReferences, type SecretValues } from './template.js';
import { WorkloadProcess } from './workload-process.js';

/** What the agent needs from the vault; src/cli/agent/vault-session.ts speaks HTTP. */
export interface SecretSource {
  /** Verifies the vault (unless configured not to) and logs in; safe to call again to renew. */
  connect(): Promise<void>;
  /** Every field of the latest version of a secret: KV values (UTF-8) and files (bytes). */
  fetch(path: string): Promise<Map<string, Uint8Array>>;
  /** Seconds until the session's token expires (renewed by connect()). */
  secondsLeft(): number;
}

export interface AgentLog {
  info(message: string): void;
  warn(message: string): void;
}

/** Failures worth another attempt: the vault is not there (yet), or not ready. */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof CliError)) return false;
  return ['KH_CLI_UNREACHABLE', 'KH_SEALED', 'KH_SHUTTING_DOWN', 'KH_CLI_HTTP', 'KH_NOT_INITIALIZED'].includes(e.code);
}

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

async function withRetries<T>(attempts: number, log: AgentLog, what: string, fn: () => Promise<T>, sleep: (ms: number) => Promise<void>): Promise<T> {
  let delay = BACKOFF_START_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e) || (attempts !== 0 && attempt >= attempts)) throw e;
      log.warn(`${what}: ${(e as CliError).message}; attempt ${attempt + 1}${attempts === 0 ? '' : ` of ${attempts}`} in ${Math.round(delay / 1000)} s`);
      await sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}

interface Rendered {
  values: Map<string, Map<string, Uint8Array>>;
  /** SHA-256 over every path, field and value: all that is kept once the values are written and wiped. */
  digest: string;
}

function wipeValues(values: SecretValues): void {
  for (const fields of values.values()) for (const v of fields.values()) v.fill(0);
}

export interface AgentRun {
  /** Resolves with the exit code the agent should end with. */
  readonly done: Promise<number>;
  readonly outputDir: string;
  /** Stops (daemon mode) or terminates the workload; files are wiped either way. */
  stop(): void;
  /** Re-fetches now (a daemon's SIGHUP), as the timer would. */
  refreshNow(): void;
}

export interface AgentDeps {
  source: SecretSource;
  log: AgentLog;
  sleep?: (ms: number) => Promise<void>;
}

export async function runAgent(config: AgentConfig, command: readonly string[], deps: AgentDeps): Promise<AgentRun> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { source, log } = deps;
  const templates = config.templates.map((t) => ({ ...t, text: readTemplate(t.source) }));
  const paths = new Set(config.secrets.map((s) => s.path));
  for (const t of templates) for (const ref of templateReferences(t.text, t.source)) paths.add(ref.path);

  const out = OutputDir.create(config.output.dir, config.output.allowPersistentDisk);
  let wiped = false;
  const wipe = () => {
    if (wiped) return;
    wiped = true;
    out.wipe();
  };
  // Whatever ends the process, the files go first.
  process.once('exit', wipe);

  const fetchAll = async (): Promise<Rendered> => {
    const values = new Map<string, Map<string, Uint8Array>>();
    const digest = createHash('sha256');
    for (const path of [...paths].sort()) {
      const fields = await source.fetch(path);
      values.set(path, fields);
      digest.update(`${path}\0`);
      for (const [k, v] of [...fields].sort(([a], [b]) => (a < b ? -1 : 1))) digest.update(`${k}\0${v.length}\0`).update(v);
    }
    return { values, digest: digest.digest('hex') };
  };

  /** Files and templates from the values; the environment for a workload about to start. */
  const materialise = (values: SecretValues): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const s of config.secrets) {
      const fields = values.get(s.path);
      for (const [name, field] of Object.entries(s.env ?? {})) {
        const v = fields?.get(field);
        if (v === undefined) throw new CliError('KH_AGENT_SECRET_FIELD_MISSING', `secret "${s.path}" has no field "${field}" (for ${name})`);
        env[name] = Buffer.from(v).toString('utf8');
      }
      for (const [file, field] of Object.entries(s.files ?? {})) {
        const v = fields?.get(field);
        if (v === undefined) throw new CliError('KH_AGENT_SECRET_FIELD_MISSING', `secret "${s.path}" has no field "${field}" (for file ${file})`);
        out.write(file, v);
      }
    }
    for (const t of templates) {
      const bytes = renderTemplate(t.text, t.source, values);
      try {
        out.write(t.destination, bytes);
      } finally {
        bytes.fill(0);
      }
    }
    return env;
  };

  let current: Rendered | undefined;
  let env: Record<string, string> = {};
  try {
    current = await withRetries(config.startup.attempts, log, 'fetching secrets', async () => {
      await source.connect();
      return fetchAll();
    }, sleep);
    env = materialise(current.values);
    wipeValues(current.values);
    log.info(`fetched ${paths.size} secret(s) into ${out.path}`);
  } catch (e) {
    if (!config.startup.startWithoutSecrets || !isTransient(e)) {
      wipe();
      throw e;
    }
    log.warn(`starting without secrets (startup.startWithoutSecrets): ${(e as CliError).message}`);
  }

  const workload = command.length > 0 ? new WorkloadProcess(command[0]!, command.slice(1), env, out.path) : undefined;
  const notify = () => {
    const sig = config.refresh.signal as NodeJS.Signals;
    if (workload !== undefined) workload.signal(sig);
    else if (config.refresh.pidFile !== undefined) {
      const pid = Number(readFileSafe(config.refresh.pidFile).trim());
      if (Number.isInteger(pid) && pid > 1) process.kill(pid, sig);
    }
  };

  let stopped = false;
  let resolveDaemon: (code: number) => void = () => undefined;
  const daemonDone = new Promise<number>((r) => (resolveDaemon = r));
  let timer: NodeJS.Timeout | undefined;
  const refresh = async () => {
    try {
      // Renew a little before expiry: a new attestation document and login.
      if (source.secondsLeft() < Math.max(30, config.refresh.intervalSeconds * 2)) await source.connect();
      const next = await fetchAll();
      try {
        if (next.digest !== current?.digest) {
          materialise(next.values);
          current = next;
          log.info('secrets changed: files rewritten, workload signalled');
          notify();
        }
      } finally {
        wipeValues(next.values);
      }
    } catch (e) {
      // The workload keeps its current secrets; the next round tries again.
      log.warn(`refresh failed: ${e instanceof CliError ? `${e.code}: ${e.message}` : String(e)}`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (!stopped && config.refresh.intervalSeconds > 0) timer = setTimeout(() => void refresh(), config.refresh.intervalSeconds * 1000);
    }
  };
  if (config.refresh.intervalSeconds > 0) timer = setTimeout(() => void refresh(), config.refresh.intervalSeconds * 1000);

  const stop = () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    if (workload !== undefined) workload.signal('SIGTERM');
    else resolveDaemon(0);
  };
  const done = (workload?.exited ?? daemonDone).then(
    (code) => {
      stop();
      wipe();
      return code;
    },
    (e: unknown) => {
      stop();
      wipe();
      throw e;
    },
  );
  const refreshNow = () => {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    void refresh();
  };
  return { done, outputDir: out.path, stop, refreshNow };
}

function readTemplate(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError('KH_AGENT_CONFIG_INVALID', `template ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 2);
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
