/**
 * SoftHSM2 tokens for tests.
 *
 * SoftHSM2 reads the file named by SOFTHSM2_CONF (and through it the token
 * directory) in every C_Initialize, and a process has one state per loaded
 * module (pkcs11-module.ts). So each test process gets ONE store: a temp
 * directory with its own softhsm2.conf, named in process.env.SOFTHSM2_CONF
 * for the rest of the process (child processes started afterwards inherit
 * it, e.g. a CLI under test). Every softHsmToken() call adds a token to that
 * store with a fresh label, so tests in one file share a conf and never see
 * each other's keys. The store is removed when the process exits.
 *
 * A token created after the module was initialised is visible only after the
 * next C_Initialize: create tokens before opening clients, or close every
 * client of the previous test first (the last close() finalises the module).
 *
 * Without softhsm2-util: under CI=true this throws (a CI run must not skip);
 * elsewhere the test is skipped with a message and the helper returns null.
 * scripts/test-deps.sh installs Debian's softhsm2.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Debian's softhsm2 package puts the module here (a symlink into the multiarch directory). */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsmStore {
  /** The store's directory (conf and tokens/). */
  dir: string;
  /** Its softhsm2.conf, also in process.env.SOFTHSM2_CONF. */
  conf: string;
  /** directories.tokendir. */
  tokenDir: string;
}

export interface SoftHsmToken extends SoftHsmStore {
  module: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
  /** The CK_SLOT_ID SoftHSM2 assigned to the token (derived from its serial number). */
  slot: number;
  /** This token's own directory under tokenDir (move it away to make the token disappear). */
  tokenPath: string;
}

let store: SoftHsmStore | undefined;

/** Why SoftHSM2 cannot be used here, or null when it can. */
export function softHsmMissing(): string | null {
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} not found`;
  const probe = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'softhsm2-util not found';
  return null;
}

/** The process's store, made on first use. */
export function softHsmStore(): SoftHsmStore {
  if (store) return store;
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, [`directories.tokendir = ${tokenDir}`, 'objectstore.backend = file', 'log.level = ERROR', 'slots.removable = false', ''].join('\n'));
  process.env.SOFTHSM2_CONF = conf;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  store = { dir, conf, tokenDir };
  return store;
}

/**
 * Initialises a new token in the process's store (softhsm2-util
 * --init-token --free). Returns null after t.skip() when SoftHSM2 is
 * missing outside CI.
 */
export function softHsmToken(
  t: Pick<TestContext, 'skip'>,
  options: { label?: string; pin?: string; soPin?: string } = {},
): SoftHsmToken | null {
  const missing = softHsmMissing();
  if (missing) {
    const message = `SoftHSM2 is needed for this test (${missing}); run scripts/test-deps.sh (apt-get install softhsm2)`;
    if (process.env.CI === 'true') throw new Error(message);
    t.skip(message);
    return null;
  }
  const s = softHsmStore();
  const tokenLabel = options.label ?? `kh-${randomBytes(6).toString('hex')}`;
  const pin = options.pin ?? `user-${randomBytes(4).toString('hex')}`;
  const soPin = options.soPin ?? `so-${randomBytes(4).toString('hex')}`;
  const before = new Set(readdirSync(s.tokenDir));
  const run = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin], {
    encoding: 'utf8',
    env: { ...process.env, SOFTHSM2_CONF: s.conf },
  });
  if (run.error || run.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${run.stderr || run.stdout || String(run.error)}`);
  const slot = /reassigned to slot (\d+)/.exec(run.stdout)?.[1];
  if (!slot) throw new Error(`softhsm2-util did not report the new slot: ${run.stdout}`);
  const added = readdirSync(s.tokenDir).filter((d) => !before.has(d));
  if (added.length !== 1) throw new Error(`expected one new token directory, found ${added.length}`);
  return { ...s, module: SOFTHSM_MODULE, tokenLabel, pin, soPin, slot: Number(slot), tokenPath: join(s.tokenDir, added[0]!) };
}

/** A fresh token for scripts outside the test runner (benches): throws when SoftHSM2 is missing. */
export function softHsmTokenOrThrow(): SoftHsmToken {
  const token = softHsmToken({
    skip: (m?: string) => {
      throw new Error(m ?? 'SoftHSM2 missing');
    },
  });
  if (!token) throw new Error('SoftHSM2 missing');
  return token;
}
