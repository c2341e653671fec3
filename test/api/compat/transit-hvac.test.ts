/**
 * Vault transit conformance driven by hvac (Debian's python3-hvac), a real
 * Vault client: hvac/transit_conformance.py runs against a listening Keyhold
 * and exercises keys create/read/list (the LIST method)/rotate/config/delete,
 * encrypt/decrypt/rewrap with batches, data keys, signatures and HMACs, hash,
 * random and backup/restore (refused in Vault's shape: docs/compat.md).
 * Without hvac the test is skipped with one line; under CI=true it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runningVault } from '../../helpers/keyhold.js';

const SCRIPT = fileURLToPath(new URL('./hvac/transit_conformance.py', import.meta.url));

/** A Python that imports hvac: the system one first (apt's python3-hvac), then whatever python3 is on PATH. */
function pythonWithHvac(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(candidate, ['-c', 'import hvac'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

test('hvac drives the transit surface: keys, crypto with batches, data keys, sign/verify, HMAC, hash, random, backup/restore', async (t) => {
  const python = pythonWithHvac();
  if (python === undefined) {
    const missing = 'hvac (Debian python3-hvac, or pip install hvac) is not installed: the hvac transit conformance test did not run';
    if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') assert.fail(missing);
    t.skip(missing);
    return;
  }
  const { server, rootToken } = await runningVault(t);
  // One step per section of the script, each within the step time (test/helpers/step-timeout.mjs).
  for (const section of ['keys', 'crypto', 'sign', 'tools']) {
    await t.test(section, async () => {
      const { stdout } = await promisify(execFile)(python, [SCRIPT, section], {
        env: { PATH: process.env.PATH ?? '', VAULT_ADDR: server.apiUrl, VAULT_TOKEN: rootToken },
        timeout: 55_000,
      }).catch((e: { stdout?: string; stderr?: string; message: string }) => assert.fail(`hvac conformance (${section}) failed:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`));
      const steps = stdout.split('\n').filter((l) => l.startsWith('ok '));
      assert.ok(steps.length >= 3, stdout);
      if (section === 'keys') assert.ok(steps.some((s) => s.startsWith('ok list_keys (LIST)')), stdout);
    });
  }
});
