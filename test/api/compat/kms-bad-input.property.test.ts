/**
 * Property-based bad input for the AWS KMS API, through inject() with
 * requests signed by @smithy/signature-v4 (the AWS SDK's own signer, test/helpers/kms-signer.ts) under a
 * Keyhold access key: wrong types, missing members, unknown operations and
 * targets, broken JSON, prototype-poisoning bodies, wrong content types,
 * oversized blobs, and bad or missing signatures. Invariants: never a 5xx;
 * every refusal is KMS's shape `{ __type, message }` with the same name in
 * x-amzn-ErrorType; every answer carries x-amzn-RequestId; a request with a
 * bad signature never succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { unsealedVault, bearer } from '../../helpers/keyhold.js';
import { sigv4Signer, type SignedRequest } from '../../helpers/kms-signer.js';
import type { KeyholdApp } from '../../../src/api/keyhold-app.js';
import { KMS_OPERATIONS } from '../../../src/api/compat/kms/kms-operations.js';

const OPERATIONS = Object.keys(KMS_OPERATIONS);
const FIELDS = [
  'KeyId', 'Plaintext', 'CiphertextBlob', 'EncryptionContext', 'GrantTokens', 'EncryptionAlgorithm', 'KeySpec', 'KeyUsage', 'NumberOfBytes', 'Message', 'MessageType',
  'SigningAlgorithm', 'Signature', 'MacAlgorithm', 'Mac', 'AliasName', 'TargetKeyId', 'Tags', 'TagKeys', 'Limit', 'Marker', 'PendingWindowInDays', 'RotationPeriodInDays',
  'Recipient', 'DryRun', 'KeyPairSpec', 'PublicKey', 'KeyAgreementAlgorithm', 'WrappingAlgorithm', 'WrappingKeySpec', 'ImportToken', 'EncryptedKeyMaterial', 'Origin',
  'Description', 'Policy', 'DestinationKeyId', 'SourceKeyId', 'CustomerMasterKeySpec', 'ExpirationModel', 'ValidTo', 'SourceEncryptionContext', 'CustomKeyStoreId',
];

type Signed = SignedRequest;

async function setup(t: Parameters<typeof unsealedVault>[0]) {
  const { app, rootToken } = await unsealedVault(t);
  const post = async (url: string, payload: unknown) => {
    const res = await app.api.inject({ method: 'POST', url, headers: bearer(rootToken), payload: payload as object });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Record<string, string>;
  };
  await post('/v1/auth/users', { name: 'fuzzer', password: 'correct horse battery', groups: ['admins'] });
  const { accessKeyId, secretAccessKey } = await post('/v1/auth/access-keys', { principalType: 'User', principalName: 'fuzzer' });
  const sign = sigv4Signer({ accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! });
  const send = async (app: KeyholdApp, s: Signed) => app.api.inject({ method: 'POST', url: '/', headers: s.headers, payload: s.body });
  const call = async (operation: string, input: unknown) => {
    const res = await send(app, await sign({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` }, JSON.stringify(input)));
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Record<string, unknown>;
  };
  return { app, sign, send, call, accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! };
}

function assertKmsShape(res: { statusCode: number; body: string; headers: Record<string, unknown> }, context: string): void {
  assert.ok(res.statusCode < 500, `5xx for ${context}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  assert.equal(typeof res.headers['x-amzn-requestid'], 'string', `x-amzn-RequestId for ${context}`);
  if (res.statusCode < 400) return;
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['__type', 'message'], `KMS error shape for ${context}: ${res.body.slice(0, 300)}`);
  assert.equal(typeof body.__type, 'string');
  assert.equal(typeof body.message, 'string');
  assert.equal(res.headers['x-amzn-errortype'], body.__type);
  assert.ok(!/\n\s+at /.test(res.body), 'no stack trace');
}

test('bad input to the KMS API is never a 5xx and always answers in KMS error shape', async (t) => {
  const { app, sign, send, call } = await setup(t);
  const aes = ((await call('CreateKey', {})) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
  const rsa = ((await call('CreateKey', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
  const hmac = ((await call('CreateKey', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' })) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
  const external = ((await call('CreateKey', { Origin: 'EXTERNAL' })) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
  await call('CreateAlias', { AliasName: 'alias/fuzz', TargetKeyId: aes });
  const blob = ((await call('Encrypt', { KeyId: aes, Plaintext: Buffer.from('x').toString('base64') })) as { CiphertextBlob: string }).CiphertextBlob;

  const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(aes, rsa, hmac, external, 'alias/fuzz', 'alias/missing', 'alias/aws/x', `arn:aws:kms:us-east-1:111122223333:key/${aes}`, 'arn:aws:kms:us-east-1:111122223333:alias/fuzz', 'arn:bogus', blob),
    fc.constantFrom(b64(0), b64(1), b64(32), b64(4096), b64(4097), b64(6145), 'not base64!', '====', 'AAAA'),
    fc.constantFrom('SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_256', 'RSASSA_PSS_SHA_256', 'ECDSA_SHA_256', 'HMAC_SHA_256', 'RAW', 'DIGEST', 'EXTERNAL_MU', 'AES_256', 'ECC_NIST_P256', 'ECDH', 'EXTERNAL'),
    fc.constantFrom(-1, 0, 1, 7, 30, 90, 1024, 1025, 2 ** 40, 1.5, true, false, null),
    fc.record({ KeyEncryptionAlgorithm: fc.constantFrom('RSAES_OAEP_SHA_256', 'X'), AttestationDocument: fc.constantFrom(b64(16), 'bad!', 3) }, { requiredKeys: [] }),
    fc.array(fc.record({ TagKey: fc.oneof(fc.string({ maxLength: 130 }), fc.constant(1)), TagValue: fc.oneof(fc.string({ maxLength: 10 }), fc.constant(null)) }, { requiredKeys: [] }), { maxLength: 3 }),
  );
  const members = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 });
  const sig = ((await call('Sign', { KeyId: rsa, Message: b64(8), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })) as { Signature: string }).Signature;
  const mac = ((await call('GenerateMac', { KeyId: hmac, Message: b64(8), MacAlgorithm: 'HMAC_SHA_256' })) as { Mac: string }).Mac;
  /** A valid request of each operation, so mutations of it reach the operation itself, not only validation. */
  const TEMPLATES: Record<string, Record<string, unknown>> = {
    CreateKey: { KeySpec: 'SYMMETRIC_DEFAULT', Tags: [{ TagKey: 'a', TagValue: 'b' }] },
    DescribeKey: { KeyId: aes },
    ListKeys: { Limit: 2 },
    CreateAlias: { AliasName: 'alias/fuzz-new', TargetKeyId: aes },
    ListAliases: { Limit: 1 },
    UpdateAlias: { AliasName: 'alias/fuzz', TargetKeyId: aes },
    DeleteAlias: { AliasName: 'alias/fuzz-new' },
    EnableKey: { KeyId: aes },
    DisableKey: { KeyId: external },
    Encrypt: { KeyId: aes, Plaintext: b64(16), EncryptionContext: { a: 'b' } },
    Decrypt: { CiphertextBlob: blob },
    ReEncrypt: { CiphertextBlob: blob, DestinationKeyId: 'alias/fuzz' },
    GenerateDataKey: { KeyId: aes, NumberOfBytes: 32 },
    GenerateDataKeyWithoutPlaintext: { KeyId: aes, KeySpec: 'AES_128' },
    GenerateDataKeyPair: { KeyId: aes, KeyPairSpec: 'ECC_NIST_P256' },
    GenerateDataKeyPairWithoutPlaintext: { KeyId: aes, KeyPairSpec: 'ECC_NIST_P256' },
    Sign: { KeyId: rsa, Message: b64(8), SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
    Verify: { KeyId: rsa, Message: b64(8), Signature: sig, SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
    GenerateMac: { KeyId: hmac, Message: b64(8), MacAlgorithm: 'HMAC_SHA_256' },
    VerifyMac: { KeyId: hmac, Message: b64(8), Mac: mac, MacAlgorithm: 'HMAC_SHA_256' },
    GetPublicKey: { KeyId: rsa },
    GenerateRandom: { NumberOfBytes: 16 },
    DeriveSharedSecret: { KeyId: rsa, KeyAgreementAlgorithm: 'ECDH', PublicKey: b64(91) },
    EnableKeyRotation: { KeyId: aes, RotationPeriodInDays: 100 },
    DisableKeyRotation: { KeyId: aes },
    GetKeyRotationStatus: { KeyId: aes },
    RotateKeyOnDemand: { KeyId: aes },
    ScheduleKeyDeletion: { KeyId: external, PendingWindowInDays: 7 },
    CancelKeyDeletion: { KeyId: external },
    TagResource: { KeyId: aes, Tags: [{ TagKey: 'x', TagValue: 'y' }] },
    UntagResource: { KeyId: aes, TagKeys: ['x'] },
    ListResourceTags: { KeyId: aes },
    GetParametersForImport: { KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' },
    ImportKeyMaterial: { KeyId: external, ImportToken: b64(80), EncryptedKeyMaterial: b64(512) },
  };
  assert.deepEqual(Object.keys(TEMPLATES).sort(), [...OPERATIONS].sort(), 'a template for every operation');
  const known = fc.constantFrom(...OPERATIONS).chain((op) =>
    fc
      .tuple(fc.subarray(Object.keys(TEMPLATES[op]!)), members)
      .map(([kept, extra]) => ({ target: `TrentService.${op}`, body: JSON.stringify({ ...Object.fromEntries(kept.map((k) => [k, TEMPLATES[op]![k]])), ...extra }) })),
  );
  const body = fc.oneof(
    { weight: 6, arbitrary: members.map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"KeyId":', '{"__proto__":{"admin":true},"KeyId":"x"}', '{"constructor":{"prototype":{"x":1}}}', 'null', '[]', '"str"', '{"Plaintext":"' + b64(70_000) + '"}') },
  );
  const target = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...OPERATIONS).map((o) => `TrentService.${o}`) },
    { weight: 1, arbitrary: fc.constantFrom('TrentService.Frobnicate', 'TrentService.', 'TrentService.__proto__', 'TrentService.constructor', 'TrentService.toString', 'KMS.Encrypt', '', 'TrentService.Encrypt.Extra') },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
  const request = fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: fc.record({ target, body }) });
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/x-amz-json-1.1') },
    { weight: 1, arbitrary: fc.constantFrom('application/json', 'text/plain', 'application/x-amz-json-1.0', 'application/x-amz-json-1.1; charset=utf-8', 'multipart/form-data') },
  );

  await fc.assert(
    fc.asyncProperty(request, contentType, fc.integer({ min: 0, max: 19 }), async ({ target: amzTarget, body: payload }, type, omit) => {
      const headers: Record<string, string> = { 'content-type': type };
      if (omit !== 0) headers['x-amz-target'] = amzTarget;
      const res = await send(app, await sign(headers, payload));
      assertKmsShape(res, `${amzTarget} ${type} ${payload.slice(0, 120)}`);
    }),
    { numRuns: 500 },
  );
});

test('requests with bad or missing signatures never succeed and are refused in KMS shape', async (t) => {
  const { app, sign, send, accessKeyId } = await setup(t);
  const base = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' };
  const good = await sign(base, '{}');
  assert.equal((await send(app, good)).statusCode, 200, 'the unmodified request succeeds');
  const AUTH_EXCEPTIONS = new Set(['MissingAuthenticationTokenException', 'IncompleteSignatureException', 'InvalidSignatureException', 'UnrecognizedClientException']);
  const mutation = fc.oneof(
    fc.constant((s: Signed): Signed => ({ ...s, headers: Object.fromEntries(Object.entries(s.headers).filter(([k]) => k.toLowerCase() !== 'authorization')) })),
    fc.string({ maxLength: 200 }).map((garbage) => (s: Signed): Signed => ({ ...s, headers: { ...s.headers, authorization: garbage } })),
    fc.constant((s: Signed): Signed => ({ ...s, body: '{"Limit":1}' })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, 'x-amz-target': 'TrentService.DescribeKey' } })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, 'x-amz-date': '20000101T000000Z' } })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, authorization: s.headers.authorization!.replace(/Signature=[0-9a-f]{4}/, 'Signature=0000') } })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, authorization: s.headers.authorization!.replace(accessKeyId, 'KHAKAAAAAAAAAAAAAAAA') } })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, authorization: s.headers.authorization!.replace('/us-east-1/', '/eu-west-1/') } })),
    fc.constant((s: Signed): Signed => ({ ...s, headers: { ...s.headers, authorization: s.headers.authorization!.replace('/kms/', '/s3/') } })),
  );
  await fc.assert(
    fc.asyncProperty(mutation, async (mutate) => {
      const s = mutate(await sign(base, '{}'));
      if (s.headers.authorization === good.headers.authorization && s.body === good.body && s.headers['x-amz-target'] === base['x-amz-target']) return;
      const res = await send(app, s);
      assertKmsShape(res, JSON.stringify(s.headers).slice(0, 300));
      assert.ok(res.statusCode >= 400, `a tampered request succeeded: ${JSON.stringify(s.headers).slice(0, 300)}`);
      assert.ok(AUTH_EXCEPTIONS.has((JSON.parse(res.body) as { __type: string }).__type), res.body);
    }),
    { numRuns: 150 },
  );
});

test('oversized inputs are ValidationException (KMS limits), not 5xx or 413 in another shape', async (t) => {
  const { app, sign, send, call } = await setup(t);
  const aes = ((await call('CreateKey', {})) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 4097, max: 60_000 }), async (n) => {
      const res = await send(app, await sign({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' }, JSON.stringify({ KeyId: aes, Plaintext: Buffer.alloc(n).toString('base64') })));
      assertKmsShape(res, `Encrypt of ${n} bytes`);
      assert.equal(JSON.parse(res.body).__type, 'ValidationException');
    }),
    { numRuns: 25 },
  );
});

test('issue 15: deep and huge signed bodies are refused in KMS shape (SerializationException, 400), never a 5xx', async (t) => {
  const { app, sign, send } = await setup(t);
  const body = fc.oneof(
    fc.integer({ min: 33, max: 5_000 }).map((n) => ({ text: `{"KeyId":"k","EncryptionContext":${'{"a":'.repeat(n)}"x"${'}'.repeat(n)}}`, deep: true })),
    fc.integer({ min: 33, max: 20_000 }).map((n) => ({ text: `{"GrantTokens":${'['.repeat(n)}${']'.repeat(n)}}`, deep: true })),
    fc.integer({ min: 64 * 1024, max: 1024 * 1024 }).map((n) => ({ text: JSON.stringify({ KeyId: 'k', Plaintext: 'A'.repeat(n) }), deep: false })),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('Encrypt', 'Decrypt', 'GenerateDataKey', 'ListKeys'), body, async (operation, { text, deep }) => {
      const res = await send(app, await sign({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` }, text));
      const context = `${operation} with ${text.length} bytes`;
      assertKmsShape(res, context);
      assert.equal(res.statusCode, 400, `${context}: ${res.body.slice(0, 200)}`);
      if (deep && text.length <= 64 * 1024) assert.equal((JSON.parse(res.body) as { __type: string }).__type, 'SerializationException', context);
    }),
    { numRuns: 30 },
  );
});
