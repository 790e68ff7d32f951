import assert from 'node:assert/strict';
import { test } from 'node:test';

import { canonicalKernelName, canonicalKernelNames, KernelNameError } from '../../src/compiler/names.js';

test('equivalent spellings of a name expression share one canonical form', () => {
  for (const s of ['k<float>', 'k< float >', '&k<float>', ' & k <float> ', 'k<\tfloat\t>']) {
    assert.equal(canonicalKernelName(s), 'k<float>', s);
  }
  assert.equal(canonicalKernelName('gemm<float, 128, true>'), 'gemm<float,128,true>');
  assert.equal(canonicalKernelName('k<unsigned int>'), 'k<unsigned int>', 'a space between words stays');
  assert.equal(canonicalKernelName('ns::inner::k<const float *>'), 'ns::inner::k<const float*>');
  assert.equal(canonicalKernelName('::k'), '::k');
  assert.equal(canonicalKernelName('k<(1 << 4)>'), 'k<(1<<4)>');
  assert.equal(canonicalKernelName('sgemm'), 'sgemm');
});

test('names that could inject code are refused before any compile, with what is wrong', () => {
  const attempts = [
    'k); __global__ void evil() {',
    'k;',
    'k\n#include "/etc/passwd"',
    'k/*',
    'k = 0',
    '"k"',
    'k{}',
    'k<float>>',
    'k<<float>',
    'k)',
    '(k',
    '1k',
    '',
    '   ',
    'k\\',
    "k'",
    '#k',
    '[](){}',
  ];
  for (const a of attempts) {
    assert.throws(() => canonicalKernelName(a), KernelNameError, JSON.stringify(a));
  }
  assert.throws(() => canonicalKernelName('k;'), /contains ";"/);
  assert.throws(() => canonicalKernelName(42 as unknown as string), /must be a string/);
  assert.throws(() => canonicalKernelName('k'.repeat(5000)), /longer than/);
});

test('a module name list is canonical, deduplicated and sorted', () => {
  assert.deepEqual(canonicalKernelNames(['b', '&a', 'k< int >', 'k<int>']), ['a', 'b', 'k<int>']);
  assert.throws(() => canonicalKernelNames([]), /at least one/);
  assert.throws(() => canonicalKernelNames('a' as unknown as string[]), /array/);
  assert.throws(() => canonicalKernelNames(['a', 'b;']), /names\[1\]/);
});

test('a space that separates two tokens survives: 1 - -1 is not 1--1, 0xe + 1 is not the number 0xe+1', () => {
  assert.equal(canonicalKernelName('fill<1 - -1>'), 'fill<1 - -1>');
  assert.equal(canonicalKernelName('fill<0xe + 1>'), 'fill<0xe + 1>');
  assert.equal(canonicalKernelName('k<v<int> >'), 'k<v<int>>');
  assert.equal(canonicalKernelName('k<(a < < 1)>'), 'k<(a< <1)>');
});

test('the nvcc backend refuses a name that is not one, even when called directly', async () => {
  const { NvccCompiler } = await import('../../src/compiler/index.js');
  await assert.rejects(
    new NvccCompiler().compile({
      source: 'extern "C" __global__ void k() {}',
      arch: 'sm_90',
      nameExpressions: ['k); extern "C" __global__ void injected() {} static void* z = (0'],
    }),
    KernelNameError,
  );
  await assert.rejects(
    new NvccCompiler().compile({ source: 'x', arch: 'sm_90', options: '-O3' as unknown as string[] }),
    /options must be an array of strings/,
  );
});
