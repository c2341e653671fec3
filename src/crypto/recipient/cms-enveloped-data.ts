/**
 * CMS EnvelopedData (RFC 5652 §6) to one RSA public key, the format AWS KMS
 * returns as CiphertextForRecipient for a Nitro enclave recipient:
 *
 *   ContentInfo { id-envelopedData, EnvelopedData {
 *     version 2,
 *     recipientInfos { KeyTransRecipientInfo {
 *       version 2, rid [0] subjectKeyIdentifier = SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 (1)),
 *       keyEncryptionAlgorithm id-RSAES-OAEP { SHA-256, MGF1-SHA-256, pSpecifiedEmpty } (RFC 4055 §4.1),
 *       encryptedKey = RSA-OAEP(content-encryption key) } },
 *     encryptedContentInfo { id-data, aes256-CBC { IV } (RFC 3565), encryptedContent [0] } } }
 *
 * The content is padded as RFC 5652 §6.3 says (PKCS#7). `openssl cms -decrypt
 * -inform DER -inkey <key>` opens it, as does the AWS Nitro Enclaves SDK.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { SubjectKeyIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import {
  CMSVersion,
  ContentEncryptionAlgorithmIdentifier,
  ContentInfo,
  EncryptedContent,
  EncryptedContentInfo,
  EnvelopedData,
  KeyEncryptionAlgorithmIdentifier,
  KeyTransRecipientInfo,
  RecipientIdentifier,
  RecipientInfo,
  RecipientInfos,
  id_data,
  id_envelopedData,
} from '@peculiar/asn1-cms';
import { entropy } from '../random.js';
import { wipe } from '../bytes.js';

const ID_RSAES_OAEP = '1.2.840.113549.1.1.7';
const ID_AES256_CBC = '2.16.840.1.101.3.4.1.42';
/**
 * RSAES-OAEP-params { hashFunc [0] sha256 (NULL params), maskGenFunc [1] mgf1(sha256), pSourceFunc default }
 * in DER (RFC 4055 §4.1; the same bytes OpenSSL writes for -keyopt rsa_oaep_md:sha256).
 */
const OAEP_SHA256_PARAMS = Buffer.from('302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500', 'hex');

const arrayBuffer = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the BIT STRING subjectPublicKey (an identifier, not a security function). */
function subjectKeyId(publicKey: KeyObject): Uint8Array {
  const spki = AsnConvert.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo);
  return new Uint8Array(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
}

/**
 * Encrypts `content` to the RSA public key (SPKI DER or KeyObject) as DER CMS EnvelopedData.
 * @throws TypeError when the key is not an RSA public key
 */
export function cmsEnvelopeForRsa(recipient: KeyObject | Uint8Array, content: Uint8Array): Uint8Array {
  const publicKey = recipient instanceof Uint8Array ? createPublicKey({ key: Buffer.from(recipient), format: 'der', type: 'spki' }) : recipient;
  if (publicKey.asymmetricKeyType !== 'rsa') throw new TypeError('CMS recipients are RSA public keys');
  const cek = entropy(32, 'recipient-cek');
  const iv = entropy(16, 'recipient-iv');
  try {
    const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    const cipher = createCipheriv('aes-256-cbc', cek, iv);
    const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
    const recipientInfo = new RecipientInfo({
      ktri: new KeyTransRecipientInfo({
        version: CMSVersion.v2,
        rid: new RecipientIdentifier({ subjectKeyIdentifier: new SubjectKeyIdentifier(arrayBuffer(subjectKeyId(publicKey))) }),
        keyEncryptionAlgorithm: new KeyEncryptionAlgorithmIdentifier({ algorithm: ID_RSAES_OAEP, parameters: arrayBuffer(OAEP_SHA256_PARAMS) }),
        encryptedKey: new OctetString(arrayBuffer(encryptedKey)),
      }),
    });
    const enveloped = new EnvelopedData({
      version: CMSVersion.v2,
      recipientInfos: new RecipientInfos([recipientInfo]),
      encryptedContentInfo: new EncryptedContentInfo({
        contentType: id_data,
        contentEncryptionAlgorithm: new ContentEncryptionAlgorithmIdentifier({ algorithm: ID_AES256_CBC, parameters: AsnConvert.serialize(new OctetString(arrayBuffer(iv))) }),
        encryptedContent: new EncryptedContent({ value: new OctetString(arrayBuffer(encrypted)) }),
      }),
    });
    const info = new ContentInfo({ contentType: id_envelopedData, content: AsnConvert.serialize(enveloped) });
    return new Uint8Array(AsnConvert.serialize(info));
  } finally {
    wipe(cek);
  }
}
