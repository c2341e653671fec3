/**
 * Generated and typed secrets: passwords (unbiased, from the entropy
 * source), Ed25519 SSH host keys in OpenSSH's formats (checked with the real
 * ssh-keygen), data keys through the keys layer, and TLS material (the key
 * must be the leaf's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { unsealedVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { makePki } from '../helpers/pki.js';
import { SecretManager } from '../../src/secrets/secret-manager.js';
import { generatePassword } from '../../src/secrets/password.js';
import { encodeSshEd25519, generateSshHostKey } from '../../src/secrets/openssh-key.js';
import { dataKeySource } from '../../src/api/v1/secrets/data-key-source.js';
import { decrypt } from '../../src/keys/operations/encrypt.js';
import { KeyholdError } from '../../src/errors.js';

const code = (c: string) => (e: unknown) => e instanceof KeyholdError && e.code === c;
const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

test('passwords: the asked length and alphabet, every character about equally likely', () => {
  assert.equal(generatePassword().length, 32);
  const p = generatePassword(64, 'abc');
  assert.match(p, /^[abc]{64}$/);
  // 3 does not divide 256: a modulo-biased generator would favour "a" (86/256 vs 85/256) — too small to see;
  // use a 7-character alphabet over 70 000 draws and check each count is near 10 000 (chi-square, 6 dof, p ~ 1e-6 cut-off).
  const alphabet = 'abcdefg';
  const counts = new Map<string, number>();
  for (let i = 0; i < 70; i++) for (const c of generatePassword(1000, alphabet)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const chi = [...alphabet].reduce((s, c) => s + ((counts.get(c) ?? 0) - 10_000) ** 2 / 10_000, 0);
  assert.ok(chi < 36, `chi-square ${chi}`);
  for (const [len, alpha] of [[7, 'ab'], [1025, 'ab'], [16, 'a'], [16, 'aab'], [16, 'a b'], [16, 'é!']] as const)
    assert.throws(() => generatePassword(len, alpha), code('KH_SECRET_GENERATE_INVALID'), `${len} ${alpha}`);
});

test('SSH host keys: OpenSSH private key file and .pub line that ssh-keygen accepts', { skip: !hasSshKeygen && 'ssh-keygen is not installed' }, (t) => {
  const dir = tempDir(t);
  const key = generateSshHostKey('host@example');
  const file = join(dir, 'ssh_host_ed25519_key');
  writeFileSync(file, key.privateKeyFile);
  chmodSync(file, 0o600);
  // -y derives the public key from the private file: it must parse our openssh-key-v1 encoding.
  const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
  assert.equal(derived.split(' ').slice(0, 2).join(' '), key.publicKeyLine.split(' ').slice(0, 2).join(' '));
  writeFileSync(`${file}.pub`, `${key.publicKeyLine}\n`);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], { encoding: 'utf8' });
  assert.ok(fingerprint.includes(key.fingerprint), fingerprint);
  assert.match(fingerprint, /ED25519/);
  // Two keys are different keys.
  assert.notEqual(generateSshHostKey().publicKeyLine, key.publicKeyLine);
});

test('SSH key encoding matches what ssh-keygen writes for the same key', { skip: !hasSshKeygen && 'ssh-keygen is not installed' }, (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cmp', '-f', file]);
  // Read seed, public key and checkint back out of ssh-keygen's own file, then re-encode them.
  const raw = Buffer.from(readFileSync(file, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  let o = 15;
  const str = () => {
    const n = raw.readUInt32BE(o);
    const s = raw.subarray(o + 4, o + 4 + n);
    o += 4 + n;
    return s;
  };
  str(); str(); str(); o += 4; str();
  const priv = str();
  const check = priv.readUInt32BE(0);
  const pub = priv.subarray(8 + 4 + 11 + 4, 8 + 4 + 11 + 4 + 32);
  const seed = priv.subarray(8 + 4 + 11 + 4 + 32 + 4, 8 + 4 + 11 + 4 + 32 + 4 + 32);
  const ours = encodeSshEd25519(new Uint8Array(seed), new Uint8Array(pub), 'cmp', check);
  assert.equal(ours.privateKeyFile, readFileSync(file, 'utf8'));
  assert.equal(`${ours.publicKeyLine}\n`, readFileSync(`${file}.pub`, 'utf8'));
});

test('generated secrets: password, ssh-host-key and datakey; the write answer holds no secret part', async (t) => {
  const v = await unsealedVault(t);
  const keys = v.app.services.keys;
  const secrets = new SecretManager(v.app.services.barrier, { dataKeys: dataKeySource(keys) });

  const pw = await secrets.write('gen/pw', { generate: { kind: 'password', length: 40, alphabet: 'xyz0123' } });
  assert.equal(pw.generated, undefined);
  const pwRead = await secrets.read('gen/pw');
  assert.equal(pwRead.info.type, 'password');
  assert.match(pwRead.data.password!, /^[xyz0123]{40}$/);

  const ssh = await secrets.write('gen/ssh', { generate: { kind: 'ssh-host-key', comment: 'web-1' } });
  const sshRead = await secrets.read('gen/ssh');
  assert.equal(ssh.generated?.publicKey, sshRead.data.publicKey);
  assert.ok(!JSON.stringify(ssh).includes('OPENSSH PRIVATE KEY'));
  assert.match(new TextDecoder().decode(sshRead.files.ssh_host_ed25519_key), /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  assert.match(new TextDecoder().decode(sshRead.files['ssh_host_ed25519_key.pub']), /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+={0,2} web-1\n$/);

  await keys.create({ name: 'wrap-key', type: 'aes256-gcm' });
  const dk = await secrets.write('gen/dk', { generate: { kind: 'datakey', key: 'wrap-key', bits: 512 } });
  assert.ok(dk.generated?.ciphertext?.startsWith('keyhold:v1:'));
  assert.equal(JSON.stringify(dk).includes('plaintext'), false);
  const dkRead = await secrets.read('gen/dk');
  const plain = Buffer.from(dkRead.data.plaintext!, 'base64');
  assert.equal(plain.length, 64);
  // The stored plaintext is the data key the ciphertext wraps.
  assert.deepEqual(Buffer.from(decrypt(await keys.get('wrap-key'), { ciphertext: dk.generated!.ciphertext! }).plaintext), plain);
  await assert.rejects(secrets.write('gen/dk2', { generate: { kind: 'datakey', key: 'no-such-key' } }), code('KH_KEY_NOT_FOUND'));
  await keys.create({ name: 'released', type: 'aes256-gcm', releasePolicy: { pcrs: { 0: 'ab'.repeat(48) } } });
  await assert.rejects(secrets.write('gen/dk3', { generate: { kind: 'datakey', key: 'released' } }), code('KH_RELEASE_RECIPIENT_REQUIRED'));
  // A refused check-and-set draws no data key and writes nothing.
  await assert.rejects(secrets.write('gen/dk', { generate: { kind: 'datakey', key: 'wrap-key' }, cas: 0 }), code('KH_SECRET_CAS_MISMATCH'));
  assert.equal((await secrets.metadata('gen/dk')).currentVersion, 1);
});

test('TLS secrets: chain and key checked, served as tls.crt, tls.key and ca.crt', async (t) => {
  const v = await unsealedVault(t);
  const secrets = new SecretManager(v.app.services.barrier);
  const pki = makePki(tempDir(t));
  const cert = readFileSync(pki.serverCert, 'utf8');
  const key = readFileSync(pki.serverKey, 'utf8');
  const ca = readFileSync(pki.caCert, 'utf8');
  const w = await secrets.write('web/tls', { tls: { certificate: `${cert}${ca}`, privateKey: key, ca } });
  assert.equal(w.type, 'tls');
  const r = await secrets.read('web/tls');
  assert.deepEqual(Object.keys(r.files).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  // The stored key still signs for the certificate's public key.
  const storedKey = createPrivateKey(Buffer.from(r.files['tls.key']!));
  const sig = sign('sha256', Buffer.from('hello'), storedKey);
  assert.ok(verify('sha256', Buffer.from('hello'), createPublicKey(cert), sig));
  assert.match(r.data.notAfter!, /^\d{4}-/);

  const other = readFileSync(pki.clientKey, 'utf8');
  await assert.rejects(secrets.write('web/tls', { tls: { certificate: cert, privateKey: other } }), code('KH_SECRET_TLS_INVALID'));
  await assert.rejects(secrets.write('web/tls', { tls: { certificate: `${ca}${cert}`, privateKey: key } }), code('KH_SECRET_TLS_INVALID'));
  await assert.rejects(secrets.write('web/tls', { tls: { certificate: 'not a pem', privateKey: key } }), code('KH_SECRET_TLS_INVALID'));
  await assert.rejects(secrets.write('web/tls', { tls: { certificate: cert, privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } }), (e: unknown) => {
    assert.ok(e instanceof KeyholdError && e.code === 'KH_SECRET_TLS_INVALID');
    assert.ok(!e.message.includes('AAAA'));
    return true;
  });
  const rogue = readFileSync(pki.rogueCert, 'utf8');
  await assert.rejects(secrets.write('web/tls', { tls: { certificate: `${cert}${rogue}`, privateKey: key } }), code('KH_SECRET_TLS_INVALID'));
});
