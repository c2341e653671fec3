/**
 * Prints the worked examples of docs/protocols.md, computed by Keyhold's own
 * code from fixed keys, nonces and clocks, and checks each one the way a
 * receiver would (the server opens the channel request, the verifier accepts
 * the signature, ...). Run it after changing a wire format and paste what
 * changed:
 *
 *   node --import tsx scripts/protocol-examples.mts
 *
 * The fixed secrets below are examples only: never use them for anything.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { nodeChannelSuite } from '../src/crypto/e2e/node-suite.js';
import { openRequest, openResponse, parseRequestEnvelope, sealRequest, sealResponse } from '../src/crypto/e2e/protocol.js';
import type { ChannelKeyPair, ChannelSuite } from '../src/crypto/e2e/suite.js';
import { aesGcm } from '../src/crypto/aead/node-aead.js';
import { associatedData } from '../src/keys/operations/associated-data.js';
import { decodeVersioned, encodeVersioned } from '../src/keys/ciphertext.js';
import { decodeBlob, encodeBlob } from '../src/api/compat/kms/ciphertext-blob.js';
import { jwkThumbprint } from '../src/auth/jwk-thumbprint.js';
import { NonceCache, signatureBase, signRequest, verifyRequestSignature } from '../src/auth/http-signature.js';
import { signBundle, verifyBundleSignature } from '../src/policy/bundle.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fixed = (byte: number, length = 32): Uint8Array => new Uint8Array(length).fill(byte);
const sequence = (from: number, length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (from + i) & 0xff);

/** An X25519 pair from a fixed 32-byte secret, through the same node:crypto calls the server's suite makes. */
function x25519Pair(secret: Uint8Array): ChannelKeyPair & { privateKey: KeyObject } {
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]), format: 'der', type: 'pkcs8' });
  const publicKey = new Uint8Array(Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url'));
  return {
    privateKey,
    publicKey,
    agree: (peer) => new Uint8Array(diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peer).toString('base64url') }, format: 'jwk' }) })),
    wipe: () => undefined,
  };
}

/** The server's suite with its randomness replaced by the given key pairs and nonces, in order. */
function scripted(pairs: ChannelKeyPair[], nonces: Uint8Array[]): ChannelSuite {
  return { ...nodeChannelSuite, generateKeyPair: () => pairs.shift()!, randomBytes: () => nonces.shift()! };
}

function section(title: string): void {
  console.log(`\n=== ${title}`);
}

// ---------------------------------------------------------------------------
section('§1 end-to-end channel');
const server = x25519Pair(fixed(0x11));
const clientEphemeral = x25519Pair(fixed(0x22));
const serverEphemeral = x25519Pair(fixed(0x33));
const requestNonce = fixed(0x44, 24);
const responseNonce = fixed(0x55, 24);
const inner = { method: 'POST', path: '/v1/keys/payments/encrypt', headers: { authorization: 'Bearer example' }, body: { plaintext: 'aGVsbG8=' }, ts: 1767225600000 };

const { envelope } = sealRequest(scripted([clientEphemeral], [requestNonce]), { publicKey: server.publicKey, keyId: 'k1' }, inner);
const shared = clientEphemeral.agree(server.publicKey);
const requestKey = new Uint8Array(hkdfSync('sha256', shared, Buffer.concat([clientEphemeral.publicKey, server.publicKey]), 'keyhold e2e v1 request', 32));
console.log('server channel secret    ', hex(fixed(0x11)));
console.log('server channel publicKey ', hex(server.publicKey));
console.log('client ephemeral secret  ', hex(fixed(0x22)));
console.log('client ephemeral public  ', hex(clientEphemeral.publicKey));
console.log('X25519 shared secret     ', hex(shared));
console.log('request key (HKDF)       ', hex(requestKey));
console.log('inner request JSON       ', JSON.stringify(inner));
console.log('request envelope         ', JSON.stringify(envelope));
const opened = openRequest(nodeChannelSuite, server, parseRequestEnvelope(nodeChannelSuite, envelope));
assert.deepEqual(JSON.parse(Buffer.from(opened).toString('utf8')), inner);

const answer = { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req-1' }, body: { ciphertext: 'keyhold:v1:...', version: 1 } };
const response = sealResponse(scripted([serverEphemeral], [responseNonce]), clientEphemeral.publicKey, answer);
const responseShared = serverEphemeral.agree(clientEphemeral.publicKey);
const responseKey = new Uint8Array(hkdfSync('sha256', responseShared, Buffer.concat([serverEphemeral.publicKey, clientEphemeral.publicKey]), 'keyhold e2e v1 response', 32));
console.log('server ephemeral secret  ', hex(fixed(0x33)));
console.log('server ephemeral public  ', hex(serverEphemeral.publicKey));
console.log('response key (HKDF)      ', hex(responseKey));
console.log('inner response JSON      ', JSON.stringify(answer));
console.log('response envelope        ', JSON.stringify(response));
assert.deepEqual(openResponse(nodeChannelSuite, clientEphemeral, response), answer);

// ---------------------------------------------------------------------------
section('§3 ciphertexts');
const aesKey = sequence(0x00, 32);
const gcmNonce = sequence(0xa0, 12);
const plaintext = new TextEncoder().encode('hello');
const plain = encodeVersioned(1, new Uint8Array([...gcmNonce, ...aesGcm.seal(aesKey, gcmNonce, plaintext, associatedData(undefined, undefined))]));
const context = { tenant: 'acme', app: 'billing' };
const aad = associatedData(undefined, context);
const withContext = encodeVersioned(1, new Uint8Array([...gcmNonce, ...aesGcm.seal(aesKey, gcmNonce, plaintext, aad)]));
console.log('aes256-gcm key           ', hex(aesKey));
console.log('nonce                    ', hex(gcmNonce));
console.log('no context               ', plain);
console.log('context                  ', JSON.stringify(context));
console.log('AAD with context         ', hex(aad));
console.log('with context             ', withContext);
const { bytes } = decodeVersioned(withContext, 'KH_CIPHERTEXT_MALFORMED');
assert.deepEqual(aesGcm.open(aesKey, bytes.subarray(0, 12), bytes.subarray(12), aad), plaintext);
const blob = encodeBlob('payments', withContext);
console.log('KMS CiphertextBlob (hex) ', hex(blob));
assert.deepEqual(decodeBlob(blob), { keyName: 'payments', versioned: withContext });

// ---------------------------------------------------------------------------
section('§4/§5 client key, thumbprint and a signed request');
const clientKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), fixed(0x66)]), format: 'der', type: 'pkcs8' });
const clientJwk = createPublicKey(clientKey).export({ format: 'jwk' });
const jkt = jwkThumbprint(clientJwk);
console.log('Ed25519 client seed      ', hex(fixed(0x66)));
console.log('public JWK               ', JSON.stringify(clientJwk));
console.log('cnf.jkt                  ', jkt);
const body = new TextEncoder().encode('{"plaintext":"aGVsbG8="}');
const now = 1767225600000;
const headers = signRequest({
  method: 'POST',
  targetUri: 'https://keyhold.example:8080/v1/keys/payments/encrypt',
  authorization: 'Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln',
  body,
  privateKey: clientKey,
  now,
  nonce: 'bm9uY2Utb2YtZXhhbXBsZQ',
});
console.log('body                     ', new TextDecoder().decode(body));
for (const [name, value] of Object.entries(headers)) console.log(`${name.padEnd(25)}`, value);
const base = signatureBase(
  [
    ['@method', 'POST'],
    ['@target-uri', 'https://keyhold.example:8080/v1/keys/payments/encrypt'],
    ['content-digest', headers['content-digest']!],
    ['authorization', 'Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln'],
  ],
  headers['signature-input'].slice('sig1='.length),
);
console.log('signature base:\n' + base);
verifyRequestSignature({
  method: 'POST',
  targetUri: 'https://keyhold.example:8080/v1/keys/payments/encrypt',
  headers: { ...headers, authorization: 'Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln' },
  expectedKeyId: jkt,
  publicJwk: clientJwk,
  now: now + 1000,
  nonces: new NonceCache(),
  hasBody: true,
});

// ---------------------------------------------------------------------------
section('§6 signed policy bundle');
const policyKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), fixed(0x77)]), format: 'der', type: 'pkcs8' });
const bundleText = '{"version":2,"issuedAt":"2026-01-01T00:00:00Z","policies":"permit(principal in Keyhold::Group::\\"admins\\", action, resource);","entities":[]}';
const bundleBytes = new TextEncoder().encode(bundleText);
const signature = await signBundle(bundleBytes, policyKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'policy-2026');
console.log('Ed25519 policy key seed  ', hex(fixed(0x77)));
console.log('policy public key (PEM)  ', JSON.stringify(createPublicKey(policyKey).export({ format: 'pem', type: 'spki' })));
console.log('bundle bytes             ', bundleText);
console.log('detached JWS             ', signature);
await verifyBundleSignature(bundleBytes, signature, new Map([['policy-2026', createPublicKey(policyKey)]]));
console.log('\nall examples verified');
