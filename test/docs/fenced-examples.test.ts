/** The example extractor refuses blocks nobody decided about, so a new README block is run or skipped on purpose. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fencedBlocks } from './fenced-examples.js';

const doc = (...lines: string[]): string => lines.join('\n') + '\n';

test('shell blocks run, marked js blocks run as their file, skips keep their reason, other languages are not code', () => {
  const blocks = fencedBlocks(
    'X.md',
    doc(
      '```sh',
      'keyhold key list',
      '```',
      '<!-- example: node sdk-example.mjs -->',
      '```js',
      "console.log('hi');",
      '```',
      '<!-- example: skip (needs an HSM) -->',
      '',
      '```sh',
      'softhsm2-util --init-token',
      '```',
      '```text',
      '  API: http://127.0.0.1:8080',
      '```',
    ),
  );
  assert.deepEqual(
    blocks.map((b) => [b.line, b.lang, b.example]),
    [
      [1, 'sh', { kind: 'shell' }],
      [5, 'js', { kind: 'node', file: 'sdk-example.mjs' }],
      [10, 'sh', { kind: 'skip', reason: 'needs an HSM' }],
      [13, 'text', { kind: 'not-code' }],
    ],
  );
  assert.equal(blocks[1]!.code, "console.log('hi');\n");
});

test('a block without a language, a js block without a marker, an unknown or misplaced marker, an unclosed fence are refused', () => {
  assert.throws(() => fencedBlocks('X.md', doc('```', 'x', '```')), /X\.md:1: a fence must name its language/);
  assert.throws(() => fencedBlocks('X.md', doc('```js', 'x', '```')), /X\.md:1: a js block needs a marker/);
  assert.throws(() => fencedBlocks('X.md', doc('```ts', 'x', '```')), /X\.md:1: a ts block needs a marker/);
  assert.throws(() => fencedBlocks('X.md', doc('<!-- example: run it -->', '```sh', 'x', '```')), /unknown example marker/);
  assert.throws(() => fencedBlocks('X.md', doc('<!-- example: node a.mjs -->', '```sh', 'x', '```')), /marks a js block, not sh/);
  assert.throws(() => fencedBlocks('X.md', doc('<!-- example: skip (output) -->', '```text', 'x', '```')), /never run, it needs no skip marker/);
  assert.throws(() => fencedBlocks('X.md', doc('<!-- example: skip () -->', '```sh', 'x', '```')), /unknown example marker/);
  assert.throws(() => fencedBlocks('X.md', doc('```sh', 'x')), /X\.md:1: unclosed fence/);
});
