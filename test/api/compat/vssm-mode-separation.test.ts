/**
 * Issue 15 H5: one key, one mode. A VSSM client allowed only to decrypt used
 * AES/CTR decryption (whose IV the caller chooses) as a raw AES_K(x) oracle
 * on an AES-GCM key, and from a few blocks of it forged keyhold:v1
 * ciphertexts, transit ciphertexts and KMS CiphertextBlobs for chosen
 * plaintext and encryption context. These tests forge exactly that (GCM from
 * an AES oracle, NIST SP 800-38D §7.1) and require every surface to refuse:
 * an AEAD key serves GCM only, and VSSM's unauthenticated modes need a raw
 * AES key of its own type, which no AEAD API accepts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { b64, vssmVault, type VssmVault } from './vssm-fixture.js';
import { bearer } from '../../helpers/keyhold.js';
import { kmsHeaders, sigv4Signer } from '../../helpers/kms-signer.js';
import { signed, signingKey, trusted } from '../../policy/policy-fixtures.js';
import { associatedData } from '../../../src/keys/operations/associated-data.js';
import { encodeBlob } from '../../../src/api/compat/kms/ciphertext-blob.js';

const POLICY_KEY = signingKey('mode-tests');
/** Root administers through /v1; VSSM clients may only decrypt; the VSSM admin creates keys; kms-users use the KMS API. */
const POLICIES = `
permit(principal == Keyhold::User::"root", action, resource);
permit(principal in Keyhold::Group::"vssm-clients", action == Keyhold::Action::"decrypt", resource) when { context.apiSurface == "vssm" };
permit(principal in Keyhold::Group::"kms-users", action, resource) when { context.apiSurface == "aws-kms" };
permit(principal in Keyhold::Group::"vssm-admins", action in [Keyhold::Action::"createKey", Keyhold::Action::"importKey"], resource) when { context.apiSurface == "vssm" };
`;

type Oracle = (block: Uint8Array, count: number) => Promise<Uint8Array | undefined>;

// --- GCM from a block cipher oracle (SP 800-38D §6.3-§7.1) -----------------

const R = 0xe1n << 120n;
const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const bytes16 = (x: bigint): Uint8Array => Buffer.from(x.toString(16).padStart(32, '0'), 'hex');

function gfMul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

function ghash(h: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const H = big(h);
  let y = 0n;
  const absorb = (data: Uint8Array) => {
    for (let i = 0; i < data.length; i += 16) {
      const block = new Uint8Array(16);
      block.set(data.subarray(i, i + 16));
      y = gfMul(y ^ big(block), H);
    }
  };
  absorb(aad);
  absorb(ct);
  const lengths = new Uint8Array(16);
  new DataView(lengths.buffer).setBigUint64(0, BigInt(aad.length * 8));
  new DataView(lengths.buffer).setBigUint64(8, BigInt(ct.length * 8));
  absorb(lengths);
  return bytes16(y);
}

/** nonce || ciphertext || tag of AES-GCM for (plaintext, aad), computed with AES_K blocks from `oracle` only. */
async function forgeGcm(oracle: Oracle, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  const h = await oracle(new Uint8Array(16), 1);
  const nonce = new Uint8Array(randomBytes(12));
  const j0 = new Uint8Array(16);
  j0.set(nonce);
  j0[15] = 1;
  // AES_K(J0), then the keystream AES_K(J0 + 1), AES_K(J0 + 2), ... in one call (the counter never carries out of its low 32 bits here).
  const stream = await oracle(j0, 1 + Math.ceil(plaintext.length / 16));
  if (h === undefined || stream === undefined) return undefined;
  const ct = plaintext.map((p, i) => p ^ stream[16 + i]!);
  const s = ghash(h, aad, ct);
  const tag = s.map((x, i) => x ^ stream[i]!);
  return Buffer.concat([nonce, ct, tag]);
}

/** AES_K(x), AES_K(x+1), ... through VSSM AES/CTR/NoPadding decryption of zero blocks with IV x; undefined when refused. */
function ctrOracle(v: VssmVault, keyName: string, answers: { status: number; text: string }[]): Oracle {
  return async (block, count) => {
    const res = await v.call('/symmetric/decrypt', { input: b64(Buffer.concat([block, new Uint8Array(16 * count)])), keyName, algorithm: 'AES/CTR/NoPadding' });
    answers.push(res);
    return res.status === 200 ? new Uint8Array(Buffer.from(String(res.json.output), 'base64')) : undefined;
  };
}

test('the GCM forger of these tests is right: with a real AES_K oracle it makes what AES-GCM makes', async () => {
  const key = randomBytes(32);
  const oracle: Oracle = (block, count) => {
    const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    const blocks = Buffer.concat(Array.from({ length: count }, (_, i) => bytes16((big(block) + BigInt(i)) & ((1n << 128n) - 1n))));
    return Promise.resolve(new Uint8Array(Buffer.concat([c.update(blocks), c.final()])));
  };
  const plaintext = Buffer.from('pay 1,000,000 to mallory, then some more bytes');
  const aad = Buffer.from('context');
  const forged = (await forgeGcm(oracle, plaintext, aad))!;
  const d = createDecipheriv('aes-256-gcm', key, forged.subarray(0, 12));
  d.setAAD(aad);
  d.setAuthTag(forged.subarray(forged.length - 16));
  assert.deepEqual(Buffer.concat([d.update(forged.subarray(12, forged.length - 16)), d.final()]), plaintext);
});

async function setup(t: Parameters<typeof vssmVault>[0]) {
  const v = await vssmVault(t, { policy: { trustedKeys: trusted(POLICY_KEY) } });
  const api = v.server.api;
  const root = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await api.inject({ method, url, headers: bearer(v.rootToken), ...(payload !== undefined && { payload: payload as object }) });
    return { status: res.statusCode, json: res.json<Record<string, unknown>>() };
  };
  const { bytes, signature } = await signed(POLICY_KEY, { version: 1, policies: POLICIES });
  const pushed = await root('POST', '/v1/sys/policy', { bundle: b64(bytes), signature });
  assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
  assert.equal((await root('POST', '/v1/auth/users', { name: 'kms-app', password: 'correct horse battery', groups: ['kms-users'] })).status, 200);
  const ak = await root('POST', '/v1/auth/access-keys', { principalType: 'User', principalName: 'kms-app' });
  assert.equal(ak.status, 200, JSON.stringify(ak.json));
  const sign = sigv4Signer({ accessKeyId: String(ak.json.accessKeyId), secretAccessKey: String(ak.json.secretAccessKey) });
  const kms = async (operation: string, input: unknown) => {
    const s = await sign(kmsHeaders(operation), JSON.stringify(input));
    const res = await api.inject({ method: 'POST', url: '/', headers: s.headers, payload: s.body });
    return { status: res.statusCode, json: res.json<Record<string, unknown>>() };
  };
  return { v, root, kms };
}

test('H5: decrypt-only access through VSSM AES/CTR cannot forge /v1, transit or KMS ciphertexts of an AES-GCM key', async (t) => {
  const { v, root, kms } = await setup(t);
  assert.equal((await root('POST', '/v1/keys', { name: 'payments', type: 'aes256-gcm' })).status, 200);
  const legit = await root('POST', '/v1/keys/payments/encrypt', { plaintext: b64('legit') });
  assert.equal(legit.status, 200);
  // The VSSM client may decrypt, and nothing else.
  assert.equal((await v.call('/symmetric/encrypt', { input: b64('x'), keyName: 'payments', algorithm: 'AES/GCM/NoPadding' })).status, 403);

  const answers: { status: number; text: string }[] = [];
  const oracle = ctrOracle(v, 'payments', answers);
  const chosen = Buffer.from('{"pay":1000000,"to":"mallory"}');
  const context = { tenant: 'acme', purpose: 'payroll' };
  const accepted: string[] = [];

  const v1 = await forgeGcm(oracle, chosen, associatedData(undefined, context));
  if (v1 !== undefined) {
    const res = await root('POST', '/v1/keys/payments/decrypt', { ciphertext: `keyhold:v1:${b64(v1)}`, context });
    if (res.status === 200 && Buffer.from(String(res.json.plaintext), 'base64').equals(chosen)) accepted.push('/v1 decrypt');
  }
  const transit = await forgeGcm(oracle, chosen, new Uint8Array(0));
  if (transit !== undefined) {
    const res = await root('POST', '/v1/transit/decrypt/payments', { ciphertext: `vault:v1:${b64(transit)}` });
    const data = res.json.data as Record<string, unknown> | undefined;
    if (res.status === 200 && Buffer.from(String(data?.plaintext), 'base64').equals(chosen)) accepted.push('transit decrypt');
  }
  const blobBody = await forgeGcm(oracle, chosen, associatedData(undefined, context));
  if (blobBody !== undefined) {
    const blob = encodeBlob('payments', `keyhold:v1:${b64(blobBody)}`);
    const res = await kms('Decrypt', { CiphertextBlob: b64(blob), EncryptionContext: context });
    if (res.status === 200 && Buffer.from(String(res.json.Plaintext), 'base64').equals(chosen)) accepted.push('KMS Decrypt');
  }
  assert.deepEqual(accepted, [], 'forged ciphertexts were accepted');

  // The oracle itself is refused, with a message that says why, and no other mode of the AEAD key answers either.
  assert.ok(answers.length > 0);
  for (const a of answers) {
    assert.equal(a.status, 400, a.text);
    assert.match(a.text, /AES\/CTR needs a raw AES key/);
  }
  // GCM, the key's own mode, still decrypts what /v1 encrypted (the same bytes, no associated data).
  const body = String(legit.json.ciphertext).replace(/^keyhold:v1:/, '');
  const gcm = await v.call('/symmetric/decrypt', { input: body, keyName: 'payments', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(gcm.status, 200, gcm.text);
  assert.equal(Buffer.from(String(gcm.json.output), 'base64').toString(), 'legit');
});

test('H5: an AEAD key refuses every VSSM mode but GCM, in both directions, legacy or not', async (t) => {
  const v = await vssmVault(t);
  const api = v.server.api;
  for (const legacy of [false, true]) {
    const name = `aead-${legacy}`;
    const created = await api.inject({ method: 'POST', url: '/v1/keys', headers: bearer(v.rootToken), payload: { name, type: 'aes256-gcm', legacy } });
    assert.equal(created.statusCode, 200, created.body);
    for (const mode of ['ECB', 'CBC', 'CTR']) {
      for (const padding of ['NoPadding', 'PKCS5Padding']) {
        const algorithm = `AES/${mode}/${padding}`;
        // ECB encryption would be a decryption oracle for the key's GCM output: refused like the rest.
        const enc = await v.call('/symmetric/encrypt', { input: b64(new Uint8Array(32)), keyName: name, algorithm });
        assert.equal(enc.status, 400, `${name} ${algorithm} encrypt: ${enc.text}`);
        assert.match(String(enc.json.error), new RegExp(`AES/${mode} needs a raw AES key`));
        const dec = await v.call('/symmetric/decrypt', { input: b64(new Uint8Array(48)), keyName: name, algorithm });
        assert.equal(dec.status, 400, `${name} ${algorithm} decrypt: ${dec.text}`);
      }
    }
    const gcm = await v.call('/symmetric/encrypt', { input: b64('still works'), keyName: name, algorithm: 'AES/GCM/NoPadding' });
    assert.equal(gcm.status, 200, gcm.text);
  }
});

test('H5: a VSSM AES key (generatekey, injectkey) is a raw AES key: every VSSM mode works, and no AEAD API takes it', async (t) => {
  const { v, root, kms } = await setup(t);
  const generated = await v.admin('generatekey', { keyName: 'vssm-gen', keyType: 'SYMMETRIC', keySize: 32 });
  assert.equal(generated.status, 200, generated.text);
  const injected = await v.admin('injectkey', { keyName: 'vssm-inj', keyType: 'SYMMETRIC', key: b64(randomBytes(16)) });
  assert.equal(injected.status, 200, injected.text);
  for (const [name, type] of [['vssm-gen', 'aes256-raw'], ['vssm-inj', 'aes128-raw']] as const) {
    const info = await root('GET', `/v1/keys/${name}`);
    assert.equal(info.json.type, type, JSON.stringify(info.json));
    // /v1, transit and KMS refuse it for encryption and decryption: it serves VSSM's raw modes only.
    const enc = await root('POST', `/v1/keys/${name}/encrypt`, { plaintext: b64('x') });
    assert.deepEqual([enc.status, (enc.json.error as Record<string, unknown>).code], [400, 'KH_KEY_OPERATION_UNSUPPORTED'], JSON.stringify(enc.json));
    const dec = await root('POST', `/v1/keys/${name}/decrypt`, { ciphertext: `keyhold:v1:${b64(new Uint8Array(40))}` });
    assert.deepEqual([dec.status, (dec.json.error as Record<string, unknown>).code], [400, 'KH_KEY_OPERATION_UNSUPPORTED'], JSON.stringify(dec.json));
    const tr = await root('POST', `/v1/transit/encrypt/${name}`, { plaintext: b64('x') });
    assert.equal(tr.status, 400, JSON.stringify(tr.json));
    const trd = await root('POST', `/v1/transit/decrypt/${name}`, { ciphertext: `vault:v1:${b64(new Uint8Array(40))}` });
    assert.equal(trd.status, 400, JSON.stringify(trd.json));
    const ke = await kms('Encrypt', { KeyId: name, Plaintext: b64('x') });
    assert.deepEqual([ke.status, ke.json.__type], [400, 'InvalidKeyUsageException'], JSON.stringify(ke.json));
    const kd = await kms('Decrypt', { CiphertextBlob: b64(encodeBlob(name, `keyhold:v1:${b64(new Uint8Array(40))}`)) });
    assert.equal(kd.status, 400, JSON.stringify(kd.json));
    assert.notEqual(kd.json.__type, 'InvalidCiphertextException', 'refused for the key, not tried');
    // KMS does not take it for a SYMMETRIC_DEFAULT key either.
    const described = await kms('DescribeKey', { KeyId: name });
    assert.equal((described.json.KeyMetadata as Record<string, unknown>).KeySpec, `KEYHOLD_${type.toUpperCase().replace('-', '_')}`, JSON.stringify(described.json));
    const dk = await root('POST', `/v1/keys/${name}/datakey`, {});
    assert.equal(dk.status, 400, JSON.stringify(dk.json));
  }
});

test('H5: a generated VSSM AES key uses a subkey per mode, so its CTR oracle forges nothing in its GCM', async (t) => {
  const v = await vssmVault(t);
  assert.equal((await v.admin('generatekey', { keyName: 'gen', keyType: 'SYMMETRIC', keySize: 32, legacy: true })).status, 200);
  const plaintext = Buffer.from('round trip in every mode, padded or not!');
  for (const mode of ['GCM', 'CBC', 'CTR', 'ECB']) {
    for (const padding of ['PKCS5Padding', 'NoPadding']) {
      if (padding === 'NoPadding' && (mode === 'CBC' || mode === 'ECB')) continue;
      const algorithm = `AES/${mode}/${padding}`;
      const enc = await v.call('/symmetric/encrypt', { input: b64(plaintext), keyName: 'gen', algorithm });
      assert.equal(enc.status, 200, `${algorithm}: ${enc.text}`);
      const dec = await v.call('/symmetric/decrypt', { input: String(enc.json.output), keyName: 'gen', algorithm });
      assert.equal(dec.status, 200, `${algorithm}: ${dec.text}`);
      assert.deepEqual(Buffer.from(String(dec.json.output), 'base64'), plaintext, algorithm);
    }
  }
  // Within the key, CTR decryption is still an AES oracle, but of the CTR subkey: a GCM ciphertext forged with it does not decrypt.
  const answers: { status: number; text: string }[] = [];
  const forged = (await forgeGcm(ctrOracle(v, 'gen', answers), Buffer.from('forged'), new Uint8Array(0)))!;
  assert.ok(answers.every((a) => a.status === 200));
  const res = await v.call('/symmetric/decrypt', { input: b64(forged), keyName: 'gen', algorithm: 'AES/GCM/NoPadding' });
  assert.equal(res.status, 400, res.text);
  assert.match(String(res.json.error), /decryption failed/);
  // And ECB encryption (legacy) gives no block of the CTR or GCM subkey: E_ecb(0) differs from the CTR keystream at IV 0.
  const ecb = await v.call('/symmetric/encrypt', { input: b64(new Uint8Array(16)), keyName: 'gen', algorithm: 'AES/ECB/NoPadding' });
  const ctr = await v.call('/symmetric/decrypt', { input: b64(new Uint8Array(32)), keyName: 'gen', algorithm: 'AES/CTR/NoPadding' });
  assert.notEqual(ecb.json.output, ctr.json.output);
});
