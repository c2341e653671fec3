/**
 * The AWS Nitro Enclaves Root G1 certificate, the only built-in trust anchor
 * for Nitro attestation documents (docs/protocols.md §2). Source: AWS's official
 * AWS_NitroEnclaves_Root-G1.zip, as published in AWS's Nitro Enclaves documentation. It is pinned by
 * the SHA-256 of its DER, which AWS publishes, and checked when this module loads
 * so that a corrupted copy of the PEM fails loudly instead of silently
 * trusting nothing (or something else).
 */
import { X509Certificate, createHash } from 'node:crypto';

export const AWS_NITRO_ROOT_G1_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL',
  'MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD',
  'VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4',
  'MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL',
  'DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG',
  'BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb',
  '48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE',
  'h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF',
  'R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC',
  'MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW',
  'rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N',
  'IwLz3/Y=',
  '-----END CERTIFICATE-----',
].join('\n');

/** SHA-256 of the DER of AWS_NITRO_ROOT_G1_PEM, lower-case hex. */
export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

function loadPinned(): X509Certificate {
  const cert = new X509Certificate(AWS_NITRO_ROOT_G1_PEM);
  const fingerprint = createHash('sha256').update(cert.raw).digest('hex');
  if (fingerprint !== AWS_NITRO_ROOT_G1_SHA256) {
    throw new Error(`AWS Nitro root certificate does not match its pinned fingerprint (${fingerprint})`);
  }
  return cert;
}

/** The parsed AWS Nitro Enclaves Root G1, verified against its pin at load. */
export const AWS_NITRO_ROOT_G1: X509Certificate = loadPinned();
