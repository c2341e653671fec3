/** policy.trustedKeys: PEM text or a file path; only Ed25519 public keys; each kid once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTrustedKeys } from '../../src/policy/trusted-keys.js';
import { tempDir } from '../helpers/temp-dir.js';
import { signingKey } from './policy-fixtures.js';

test('a key is PEM text when it starts with -----BEGIN, otherwise a file path', (t) => {
  const a = signingKey('a');
  const b = signingKey('b');
  const file = join(tempDir(t), 'b.pem');
  writeFileSync(file, b.publicPem);
  const keys = loadTrustedKeys([
    { kid: 'a', publicKey: a.publicPem },
    { kid: 'b', publicKey: file },
  ]);
  assert.deepEqual([...keys.keys()], ['a', 'b']);
  assert.equal(keys.get('b')!.asymmetricKeyType, 'ed25519');
});

test('refused with KH_CONFIG_INVALID: unreadable file, private key, other algorithms, garbage, repeated kid', () => {
  const a = signingKey('a');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const cases: [string, { kid: string; publicKey: string }[], RegExp][] = [
    ['missing file', [{ kid: 'a', publicKey: '/nonexistent/key.pem' }], /cannot read/],
    ['private key', [{ kid: 'a', publicKey: a.privatePem }], /private key/],
    ['RSA', [{ kid: 'a', publicKey: rsa }], /Ed25519/],
    ['garbage PEM', [{ kid: 'a', publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }], /not a PEM public key/],
    ['repeated kid', [{ kid: 'a', publicKey: a.publicPem }, { kid: 'a', publicKey: a.publicPem }], /configured twice/],
  ];
  for (const [name, entries, message] of cases) {
    assert.throws(() => loadTrustedKeys(entries), { code: 'KH_CONFIG_INVALID', message }, name);
  }
});
