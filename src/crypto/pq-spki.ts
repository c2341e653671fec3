/**
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) for post-quantum public keys that
 * node:crypto cannot export yet: ML-DSA (FIPS 204; OIDs from NIST CSOR,
 * RFC 9881 §2: id-ml-dsa-44/65/87 = 2.16.840.1.101.3.4.3.17/18/19) and
 * ML-KEM (FIPS 203; id-alg-ml-kem-512/768/1024 = 2.16.840.1.101.3.4.4.1/2/3).
 * The algorithm has no parameters and the key goes into the BIT STRING raw,
 * as AWS KMS GetPublicKey returns ML-DSA keys.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';

export const PQ_SPKI_OIDS = {
  'ml-dsa-44': '2.16.840.1.101.3.4.3.17',
  'ml-dsa-65': '2.16.840.1.101.3.4.3.18',
  'ml-dsa-87': '2.16.840.1.101.3.4.3.19',
  'ml-kem-512': '2.16.840.1.101.3.4.4.1',
  'ml-kem-768': '2.16.840.1.101.3.4.4.2',
  'ml-kem-1024': '2.16.840.1.101.3.4.4.3',
} as const;

export type PqAlgorithm = keyof typeof PQ_SPKI_OIDS;

/** DER SPKI around a raw encoded ML-DSA or ML-KEM public key. */
export function pqSpki(algorithm: PqAlgorithm, raw: Uint8Array): Uint8Array {
  const spki = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: PQ_SPKI_OIDS[algorithm] }),
    subjectPublicKey: raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer,
  });
  return new Uint8Array(AsnConvert.serialize(spki));
}
