import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseScryptHash, verifyPassword } from '../../src/auth/password.js';

test('the VSSM example configuration hash parses as scrypt N=32768, r=8, p=1 with a 32-byte hash', () => {
  // From the VSSM README's config.json (test/api/compat/fixtures/vssm-readme-config.json).
  const parsed = parseScryptHash('$s0$F0801$XHElFk20jS6fT4yNPCLuFw==$tKUB+oOGEZV3TQSMz8qgHACzavObaS8KFby+VA9IAn8=');
  assert.ok(parsed);
  assert.deepEqual([parsed.N, parsed.r, parsed.p, parsed.salt.length, parsed.hash.length], [32768, 8, 1, 16, 32]);
});

test('hashes round-trip, are salted, and only the right password verifies', async () => {
  const a = await hashPassword('s3cret password');
  const b = await hashPassword('s3cret password');
  assert.match(a, /^\$s0\$f0801\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('s3cret password', a), true);
  assert.equal(await verifyPassword('s3cret passwore', a), false);
  assert.equal(await verifyPassword('', a), false);
});

test('malformed or out-of-range hashes never verify', async () => {
  for (const bad of ['', 'plain', '$s0$$$', '$s0$f0801$c2FsdA==$AAAA', '$s0$ff0801$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', '$s1$f0801$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=']) {
    assert.equal(parseScryptHash(bad), undefined, bad);
    assert.equal(await verifyPassword('x', bad), false, bad);
  }
});
