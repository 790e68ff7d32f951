// The template scheme of src/ops/cuda/ (src/ops/cuda-text.ts): placeholders, note lines, line endings, the errors
// for a template and values that do not match, and the error for a file the package lacks.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { cudaLines, fillCuda, fillTemplate, parseTemplate } from '../../src/ops/cuda-text.js';

const CUDA_DIR = fileURLToPath(new URL('../../../src/ops/cuda/', import.meta.url));
const fill = (raw: string, values: Parameters<typeof fillTemplate>[2]): string =>
  fillTemplate('t.cu', parseTemplate(raw), values);

test('inline and whole-line placeholders, note lines, CRLF', () => {
  const raw = [
    '//# a note: {{NOT_A_PLACEHOLDER}} is never filled here',
    'constexpr int BM = {{BM}};  // {{NAME}}',
    '{{BODY}}',
    '{{NONE}}',
    '  {{INDENTED}}',
    '{{ONE}}',
    'done',
    '',
  ].join('\r\n');
  assert.equal(
    fill(raw, { BM: 128, NAME: 'k', BODY: ['a;', 'b;'], NONE: [], INDENTED: 'x;', ONE: 'y;' }),
    'constexpr int BM = 128;  // k\na;\nb;\n  x;\ny;\ndone\n',
  );
  // Values are inserted as they are: never rescanned for placeholders.
  assert.equal(fill('{{A}} {{B}}\n', { A: '{{B}}', B: '1' }), '{{B}} 1\n');
  // Only upper-case names are placeholders: CUDA's own braces stay.
  assert.equal(fill('float a[2][2] = {{0.f}};\n', {}), 'float a[2][2] = {{0.f}};\n');
});

test('a template and its values must match', () => {
  assert.throws(() => fill('{{A}}\n', {}), /t\.cu: no value for \{\{A\}\}/);
  assert.throws(() => fill('{{A}}\n', { A: '1', TYPO: '2' }), /t\.cu has no \{\{TYPO\}\}/);
  assert.throws(() => fill('x = {{A}};\n', { A: ['1'] }), /\{\{A\}\} shares its line/);
  assert.throws(
    () => fillCuda('gemm-tile-coords.cuh', { BM: '8' }),
    /src\/ops\/cuda\/gemm-tile-coords\.cuh has no/,
  );
});

test('a missing CUDA file is an error naming its path and the incomplete package', () => {
  assert.throws(
    () => fillCuda('no-such-kernel.cuh'),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /src[/\\]ops[/\\]cuda[/\\]no-such-kernel\.cuh \(ENOENT\)/);
      assert.match(e.message, /the cuop package is incomplete/);
      return true;
    },
  );
});

test('every file of src/ops/cuda is a template the generators can read, in LF', () => {
  const files = readdirSync(CUDA_DIR).filter((f) => /\.cuh?$/.test(f));
  assert.ok(files.length > 0, CUDA_DIR);
  for (const f of files) {
    const raw = readFileSync(CUDA_DIR + f, 'utf8');
    assert.ok(!raw.includes('\r'), `${f}: CRLF`);
    assert.ok(raw.endsWith('\n'), `${f}: no final newline`);
    assert.ok(cudaLines(f, placeholdersOf(raw)).length > 0, f);
  }
});

/** A dummy value for every placeholder of a template. */
function placeholdersOf(raw: string): Record<string, string> {
  const names = parseTemplate(raw)
    .join('\n')
    .matchAll(/\{\{([A-Z0-9_]+)\}\}/g);
  return Object.fromEntries([...names].map((m) => [m[1] as string, 'x']));
}
