import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { renderTemplate, templateReferences } from '../../../src/cli/agent/template.js';
import { CliError } from '../../../src/cli/http-client.js';

const values = new Map([
  ['app/db', new Map([['password', Buffer.from('s3cr3t')], ['user', Buffer.from('app')]])],
  ['app/tls', new Map([['tls.key', Buffer.from([0xff, 0x00, 0xfe])]])],
]);
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CliError);
    return e.code;
  }
  return assert.fail('expected a CliError');
};

test('secret directives are replaced; everything else is copied byte for byte', () => {
  const out = renderTemplate('dsn=postgres://{{ secret "app/db" "user" }}:{{secret "app/db" "password"}}@db/app\n', 't', values);
  assert.equal(out.toString(), 'dsn=postgres://app:s3cr3t@db/app\n');
  assert.equal(renderTemplate('a {{ "{{" }} b }}', 't', values).toString(), 'a {{ b }}');
  assert.deepEqual(templateReferences('{{ secret "app/db" "user" }} {{ secret "x/y" "z" }}', 't'), [
    { path: 'app/db', field: 'user' },
    { path: 'x/y', field: 'z' },
  ]);
});

test('nothing but a secret reference is evaluated: expressions, env, code, unclosed braces are errors', () => {
  for (const bad of ['{{ env "HOME" }}', '{{ .Data.password }}', '{{ secret "a" }}', '{{ secret "a" "b" | base64 }}', '{{ process.exit() }}', 'x {{ secret "a" "b"', '{{}}', '{{ secret "a\\"b" "c" }}'])
    assert.equal(code(() => renderTemplate(bad, 't', values)), 'KH_AGENT_TEMPLATE_INVALID', bad);
});

test('a missing secret or field is KH_AGENT_TEMPLATE_MISSING; a binary field cannot be spliced into text', () => {
  assert.equal(code(() => renderTemplate('{{ secret "app/db" "nope" }}', 't', values)), 'KH_AGENT_TEMPLATE_MISSING');
  assert.equal(code(() => renderTemplate('{{ secret "app/none" "password" }}', 't', values)), 'KH_AGENT_TEMPLATE_MISSING');
  assert.equal(code(() => renderTemplate('{{ secret "app/tls" "tls.key" }}', 't', values)), 'KH_AGENT_TEMPLATE_INVALID');
});

test('any text either renders or fails with a template error: never an exception of another kind', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('{', '}', '"', ' ', 's', 'e', 'c', 'r', 't', 'a', '/', 'b', 'p', 'w', 'o', 'd', 'x', '\\') , maxLength: 60 }), (text) => {
      try {
        renderTemplate(text, 't', values);
      } catch (e) {
        assert.ok(e instanceof CliError && e.code.startsWith('KH_AGENT_TEMPLATE_'), String(e));
      }
    }),
    { numRuns: 2000 },
  );
});
