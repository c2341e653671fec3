/** fast-check over every /v1/auth route (access keys included): arbitrary bodies and tokens never give a 5xx or an unregistered error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load-config.js';
import { buildKeyhold } from '../../src/api/keyhold-app.js';
import { hashPassword } from '../../src/auth/password.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { initVault, unsealVault } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';

test('any request to a /v1/auth route answers with a registered code, never 5xx, never a stack', async (t) => {
  const config = resolveConfig({
    storage: { path: join(tempDir(t), 'k.db') },
    log: { level: 'silent' },
    auth: { admin: { username: 'ops', passwordHash: await hashPassword('pw-for-fuzz') } },
  });
  const app = await buildKeyhold(config, { logger: false });
  t.after(() => app.close());
  const { shares, rootToken } = await initVault(app, 1, 1);
  await unsealVault(app, shares);
  const routes = app.routes.filter((r) => r.url.startsWith('/v1/auth/'));
  assert.equal(routes.length, 27, 'a new /v1/auth route: check it is fuzzed here');
  await app.api.inject({ method: 'POST', url: '/v1/auth/users', headers: { authorization: `Bearer ${rootToken}` }, payload: { name: 'alice', password: 'alice-password' } });
  const good = (await app.api.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ops', password: 'pw-for-fuzz' } })).json().accessToken as string;

  const token = fc.oneof(
    fc.constant(undefined),
    fc.constant(rootToken),
    fc.constant(good),
    fc.string({ maxLength: 300 }),
    fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.').replace(/[+/=]/g, 'A')),
    fc.constant(`${good.slice(0, -4)}AAAA`),
  );
  const body = fc.oneof(
    fc.anything(),
    fc.record({ username: fc.string({ maxLength: 200 }), password: fc.string({ maxLength: 200 }) }),
    fc.record({ token: fc.oneof(fc.string(), fc.constant(good)) }),
    fc.record({ sessionId: fc.string({ maxLength: 80 }) }),
    fc.record({ subject: fc.string({ maxLength: 300 }) }),
    fc.constant({ all: false }),
    fc.record({ name: fc.oneof(fc.string({ maxLength: 140 }), fc.constant('alice')), password: fc.string({ maxLength: 40 }), groups: fc.array(fc.string({ maxLength: 70 }), { maxLength: 3 }) }),
    fc.record({ name: fc.string({ maxLength: 20 }), publicKey: fc.oneof(fc.string({ maxLength: 200 }), fc.record({ kty: fc.constantFrom('OKP', 'EC', 'RSA'), crv: fc.constantFrom('Ed25519', 'P-256', 'X'), x: fc.base64String(), y: fc.base64String() })) }),
    fc.record({ name: fc.string({ maxLength: 20 }), challenge: fc.string({ maxLength: 70 }), signature: fc.string({ maxLength: 210 }) }),
    fc.record({ role: fc.string({ maxLength: 140 }), attestationDocument: fc.oneof(fc.base64String({ maxLength: 400 }), fc.string({ maxLength: 50 })) }),
    fc.record({
      principalType: fc.oneof(fc.constantFrom('User', 'Machine'), fc.string({ maxLength: 10 })),
      principalName: fc.oneof(fc.constantFrom('alice', 'ops', 'root'), fc.string({ maxLength: 140 })),
      description: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
    }),
    // TOTP enrolment codes (issue 15 H4): guessed, malformed, oversized.
    fc.record({ enrollmentCode: fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-f]{32}$/), fc.constant(' ')) }),
    fc.record({ username: fc.constant('ops'), password: fc.constant('pw-for-fuzz'), bindKey: fc.record({ kty: fc.constantFrom('OKP', 'EC'), crv: fc.constantFrom('Ed25519', 'P-256'), x: fc.base64String({ maxLength: 60 }) }) }),
  );
  const nameParam = fc.oneof(fc.constant('alice'), fc.constant('ops'), fc.string({ maxLength: 150 }).map(encodeURIComponent));
  const accessKeyId = fc.oneof(fc.constant('KHAKAAAAAAAAAAAAAAAA'), fc.stringMatching(/^KHAK[A-Z2-7]{16}$/), fc.string({ maxLength: 30 }).map(encodeURIComponent));
  const sigHeaders = fc.option(fc.record({ signature: fc.string({ maxLength: 120 }), 'signature-input': fc.string({ maxLength: 200 }), 'content-digest': fc.string({ maxLength: 80 }) }), { nil: undefined });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), token, body, nameParam, accessKeyId, sigHeaders, async (route, tok, payload, name, keyId, sig) => {
      const r = await app.api.inject({
        method: route.method as 'GET' | 'POST' | 'DELETE',
        url: route.url.replace(':name', name).replace(':accessKeyId', keyId),
        headers: { ...(tok === undefined ? {} : { authorization: `Bearer ${tok}` }), 'content-type': 'application/json', ...(sig ?? {}) },
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: JSON.stringify(payload ?? null) }),
      });
      assert.ok(r.statusCode < 500, `${route.method} ${route.url} (${name}) -> ${r.statusCode} ${r.body}`);
      if (r.statusCode >= 400) {
        const err = r.json<{ error: { code: ErrorCode; message: string; requestId: string } }>().error;
        assert.ok(err.code in ERROR_CODES, err.code);
        assert.equal(ERROR_CODES[err.code].status, r.statusCode);
        assert.doesNotMatch(r.body, /\n\s+at |node_modules|\/src\//);
      }
    }),
    // Logins run scrypt (~50 ms), so keep the count modest.
    { numRuns: 150 },
  );
});
