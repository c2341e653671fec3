import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMemoryBacked, OutputDir } from '../../../src/cli/agent/output-dir.js';
import { CliError } from '../../../src/cli/http-client.js';
import { tempDir } from '../../helpers/temp-dir.js';

const haveShm = isMemoryBacked('/dev/shm');

test('by default the files go to a fresh 0700 folder on a memory-backed filesystem, 0600 each, and are wiped', { skip: !haveShm && process.env.CI !== 'true' ? 'no /dev/shm tmpfs here' : false }, () => {
  const out = OutputDir.create(undefined, false);
  assert.ok(isMemoryBacked(out.path));
  assert.equal(statSync(out.path).mode & 0o777, 0o700);
  const file = out.write('db-password', Buffer.from('s3cr3t'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), 's3cr3t');
  out.write('db-password', Buffer.from('rotated'));
  assert.equal(readFileSync(file, 'utf8'), 'rotated');
  out.wipe();
  assert.equal(existsSync(file), false);
  assert.equal(existsSync(out.path), false);
});

test('a folder on persistent disk is refused unless allowPersistentDisk', (t) => {
  const dir = join(tempDir(t), 'secrets');
  assert.throws(() => OutputDir.create(dir, false), (e: unknown) => e instanceof CliError && e.code === 'KH_AGENT_OUTPUT_UNSAFE');
  assert.equal(existsSync(dir), false, 'a refused folder it created is removed again');
  const out = OutputDir.create(dir, true);
  out.write('a', Buffer.from('x'));
  out.wipe();
  assert.equal(existsSync(dir), false);
});

test('file names are plain names: no path traversal', (t) => {
  const out = OutputDir.create(join(tempDir(t), 's'), true);
  for (const bad of ['../x', '/etc/passwd', 'a/b', '..', '.', ''])
    assert.throws(() => out.write(bad, Buffer.from('x')), (e: unknown) => e instanceof CliError && e.code === 'KH_AGENT_CONFIG_INVALID', bad);
  out.wipe();
});

test('the wipe touches only what the agent wrote, never through a link; a folder open to others is refused', (t) => {
  const base = tempDir(t);
  const victim = join(base, 'victim.txt');
  writeFileSync(victim, 'keep me');
  const dir = join(base, 'secrets');
  const out = OutputDir.create(dir, true);
  out.write('a', Buffer.from('secret'));
  // Someone plants names in the folder: a link to another file, and a file of their own.
  symlinkSync(victim, join(dir, 'x.tmp'));
  writeFileSync(join(dir, 'theirs'), 'not ours');
  out.wipe();
  assert.equal(readFileSync(victim, 'utf8'), 'keep me', 'a planted link is not followed');
  assert.equal(existsSync(join(dir, 'a')), false);
  assert.equal(readFileSync(join(dir, 'theirs'), 'utf8'), 'not ours', 'files the agent did not write are left alone');

  const shared = join(base, 'shared');
  mkdirSync(shared, { mode: 0o777 });
  chmodSync(shared, 0o777);
  assert.throws(() => OutputDir.create(shared, true), (e: unknown) => e instanceof CliError && e.code === 'KH_AGENT_OUTPUT_UNSAFE');
});
