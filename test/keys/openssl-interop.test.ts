/** Signatures made by Keyhold verify with the openssl command line, from the PEM that Keyhold exports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bearer, unsealedVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

const CASES: { type: string; sign: Record<string, unknown>; verify: (pub: string, sig: string, msg: string) => string[] }[] = [
  { type: 'ed25519', sign: {}, verify: (pub, sig, msg) => ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', msg, '-sigfile', sig] },
  { type: 'ecdsa-p256', sign: {}, verify: (pub, sig, msg) => ['dgst', '-sha256', '-verify', pub, '-signature', sig, msg] },
  { type: 'ecdsa-p384', sign: {}, verify: (pub, sig, msg) => ['dgst', '-sha384', '-verify', pub, '-signature', sig, msg] },
  { type: 'ecdsa-p521', sign: {}, verify: (pub, sig, msg) => ['dgst', '-sha512', '-verify', pub, '-signature', sig, msg] },
  { type: 'ecdsa-secp256k1', sign: {}, verify: (pub, sig, msg) => ['dgst', '-sha256', '-verify', pub, '-signature', sig, msg] },
  { type: 'rsa-2048', sign: { signatureAlgorithm: 'pkcs1v15' }, verify: (pub, sig, msg) => ['dgst', '-sha256', '-verify', pub, '-signature', sig, msg] },
  {
    type: 'rsa-3072',
    sign: { signatureAlgorithm: 'pss' },
    verify: (pub, sig, msg) => ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest', '-verify', pub, '-signature', sig, msg],
  },
];

test('openssl verifies Keyhold signatures and loads its public keys', async (t) => {
  const v = await unsealedVault(t);
  const dir = tempDir(t);
  const msgFile = join(dir, 'msg.bin');
  const msg = Buffer.from('{"iss":"keyhold","sub":"alice"}');
  writeFileSync(msgFile, msg);
  for (const c of CASES) {
    const call = (method: 'GET' | 'POST', url: string, payload?: object) => v.app.api.inject({ method, url, headers: bearer(v.rootToken), ...(payload ? { payload } : {}) });
    await call('POST', '/v1/keys', { name: c.type, type: c.type });
    const pem = (await call('GET', `/v1/keys/${c.type}/public-key`)).json().publicKey as string;
    const pubFile = join(dir, `${c.type}.pem`);
    writeFileSync(pubFile, pem);
    execFileSync('openssl', ['pkey', '-pubin', '-in', pubFile, '-noout']);
    const signature = (await call('POST', `/v1/keys/${c.type}/sign`, { input: msg.toString('base64'), ...c.sign })).json().signature as string;
    const sigFile = join(dir, `${c.type}.sig`);
    writeFileSync(sigFile, Buffer.from(signature.split(':')[2]!, 'base64'));
    const out = execFileSync('openssl', c.verify(pubFile, sigFile, msgFile), { encoding: 'utf8' });
    assert.match(out, /Verified OK|Signature Verified Successfully/, c.type);
  }
});
