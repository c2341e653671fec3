/**
 * L2 (issue 15): the audit never fails because of the shape of a client's
 * input. Deeply nested, huge or odd JSON on a body-less route (and on a
 * secrets route, whose body is audited as one HMAC) is refused or served,
 * never 503 KH_AUDIT_UNAVAILABLE; no stack reaches a log line; the log verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyLines } from '../../src/audit/audit-chain.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { bearer } from '../helpers/keyhold.js';
import { tempDir } from '../helpers/temp-dir.js';
import { unsealedAuditedApp } from './audited-app.js';
import { readLog, signingVault } from './checkpoint-fixtures.js';

const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

test('deep, wide and odd JSON bodies on body-less and secrets routes never make the audit fail, and no stack is logged', async (t) => {
  const { app, file, logLines, rootToken } = await unsealedAuditedApp(t, tempDir(t), { level: 'debug' });
  // Within the routes' body limits; 6,000 levels overflowed JSON.stringify in the old redaction.
  const bodies = [
    nested(6_000),
    `${'{"a":'.repeat(6_000)}1${'}'.repeat(6_000)}`,
    `[${'1,'.repeat(5_000)}1]`,
    `{"__proto__x":${nested(20)},"constructor":{"prototype":null}}`,
  ];
  for (const url of ['/v1/sys/rotate', '/v1/auth/logout', '/v1/secrets/data/app/x']) {
    for (const payload of bodies) {
      const r = await app.api.inject({ method: 'POST', url, headers: { ...bearer(rootToken), 'content-type': 'application/json' }, payload });
      assert.ok(r.statusCode < 500, `${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      assert.notEqual(r.json().error?.code, 'KH_AUDIT_UNAVAILABLE');
    }
  }
  assert.ok(logLines.every((l) => !/"stack"|\n\s+at /.test(l)), logLines.find((l) => /"stack"/.test(l)));
  assert.ok(verifyLines(readLog(file)).ok);
});

test('redact: a million levels or a million items are recorded within bounds, in milliseconds, without throwing', async (t) => {
  const v = await signingVault(t);
  const audit = new AuditLog(v.barrier, undefined, v.signingKey);
  let deep: unknown = 'secret';
  for (let i = 0; i < 1_000_000; i++) deep = { k: deep };
  const started = process.hrtime.bigint();
  const redacted = await audit.redact({ deep, wide: Array.from({ length: 1_000_000 }, () => 'x') });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const out = canonicalJson(redacted);
  assert.ok(out.length < 3_000_000, `${out.length} bytes`);
  assert.ok(!out.includes('"secret"') && !out.includes('"x"'), 'strings are still HMACed');
  assert.ok(ms < 2000, `${ms} ms`);
});
