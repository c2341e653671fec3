/**
 * CMS EnvelopedData to an RSA key (src/crypto/recipient/cms-enveloped-data.ts,
 * AWS KMS's CiphertextForRecipient): OpenSSL's own CMS implementation opens
 * it for every key size and content length, and the structure is RFC 5652's
 * (parsed back with @peculiar/asn1-cms and opened step by step with node:crypto:
 * RSAES-OAEP with SHA-256 and MGF1-SHA-256, then AES-256-CBC).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, createDecipheriv, createHash, generateKeyPairSync, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { ContentInfo, EnvelopedData, id_data, id_envelopedData } from '@peculiar/asn1-cms';
import { cmsEnvelopeForRsa } from '../../src/crypto/recipient/cms-enveloped-data.js';
import { tempDir } from '../helpers/temp-dir.js';

function opensslDecrypt(t: TestContext, der: Uint8Array, key: KeyObject): Buffer {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'm.der'), der);
  writeFileSync(join(dir, 'k.pem'), key.export({ format: 'pem', type: 'pkcs8' }));
  const r = spawnSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', join(dir, 'm.der'), '-inkey', join(dir, 'k.pem'), '-binary'], { encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

test('OpenSSL opens the envelope for RSA-2048/3072/4096 and contents of 0 to 5000 bytes', async (t) => {
  for (const bits of [2048, 3072, 4096]) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    for (const length of bits === 2048 ? [0, 1, 15, 16, 17, 32, 1000, 5000] : [32]) {
      const content = randomBytes(length);
      const der = cmsEnvelopeForRsa(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), content);
      assert.deepEqual(opensslDecrypt(t, der, privateKey), content, `RSA-${bits}, ${length} bytes`);
    }
  }
});

test('the structure is RFC 5652 EnvelopedData with RSAES-OAEP(SHA-256, MGF1-SHA-256) and AES-256-CBC, and opens with node:crypto', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const content = Buffer.from('a data key for the enclave');
  const der = cmsEnvelopeForRsa(publicKey, content);
  const info = AsnConvert.parse(der, ContentInfo);
  assert.equal(info.contentType, id_envelopedData);
  const env = AsnConvert.parse(info.content, EnvelopedData);
  assert.equal(env.version, 2);
  assert.equal(env.recipientInfos.length, 1);
  const ktri = env.recipientInfos[0]!.ktri!;
  assert.equal(ktri.version, 2);
  assert.equal(ktri.keyEncryptionAlgorithm.algorithm, '1.2.840.113549.1.1.7', 'id-RSAES-OAEP');
  const params = Buffer.from(ktri.keyEncryptionAlgorithm.parameters!);
  assert.ok(params.includes(Buffer.from('0609608648016503040201', 'hex')), 'SHA-256 as the OAEP hash');
  assert.ok(params.includes(Buffer.from('06092a864886f70d010108', 'hex')), 'MGF1');
  // rid: SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1).
  const spki = AsnConvert.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo);
  assert.deepEqual(Buffer.from(ktri.rid.subjectKeyIdentifier!.buffer), createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
  const eci = env.encryptedContentInfo;
  assert.equal(eci.contentType, id_data);
  assert.equal(eci.contentEncryptionAlgorithm.algorithm, '2.16.840.1.101.3.4.1.42', 'aes256-CBC');
  const iv = Buffer.from(AsnConvert.parse(eci.contentEncryptionAlgorithm.parameters!, OctetString).buffer);
  assert.equal(iv.length, 16);
  const cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(ktri.encryptedKey.buffer));
  assert.equal(cek.length, 32);
  const decipher = createDecipheriv('aes-256-cbc', cek, iv);
  const opened = Buffer.concat([decipher.update(Buffer.from(eci.encryptedContent!.value!.buffer)), decipher.final()]);
  assert.deepEqual(opened, content);
  // Fresh key and IV each time.
  assert.notDeepEqual(Buffer.from(cmsEnvelopeForRsa(publicKey, content)), Buffer.from(der));
});

test('a key that is not RSA is refused', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.throws(() => cmsEnvelopeForRsa(publicKey, new Uint8Array(1)), TypeError);
});
