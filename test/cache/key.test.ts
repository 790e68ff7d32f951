import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CACHE_FORMAT_VERSION, cacheKey, memoizedCacheKey, type KeySpec } from '../../src/cache/key.js';

const base: KeySpec = {
  source: 'extern "C" __global__ void k(float* a) { a[threadIdx.x] *= 2.0f; }\n',
  headers: { 'b.h': '#define B 2\n', 'a.h': '#define A 1\n' },
  nameExpressions: ['k'],
  options: ['-DBM=64', '--use_fast_math'],
  compiler: { id: 'nvrtc', version: '13.0' },
  target: 'sm_90',
  imageKind: 'cubin',
};

test('pinned keys: the encoding is stable (a change here invalidates every cache on disk)', () => {
  assert.equal(CACHE_FORMAT_VERSION, 1);
  assert.equal(cacheKey(base), 'f86acbd0463c1be14b0c103c402079765e3aa660f946f3122ac65290bfd2fc45');
  assert.equal(
    cacheKey({
      source: '',
      nameExpressions: [],
      options: [],
      compiler: { id: 'nvcc', version: '13.0.88' },
      target: 'sm_80',
      imageKind: 'ptx',
    }),
    '70c38141a6646c77836a8de4dd66bf40b854b239ddbb9f48327f0a68584896a4',
  );
  assert.equal(
    cacheKey({ ...base, headers: undefined, nameExpressions: ['gemm<float, 64>'], options: [] }),
    '8d1a64f9d7ca4b5bb40bba0e17de8b1374cd72fc306ecfaa678f38e03dbba61e',
  );
});

test('a key is 64 lowercase hex digits', () => {
  assert.match(cacheKey(base), /^[0-9a-f]{64}$/);
});

test('every field that can change the machine code changes the key', () => {
  const k = cacheKey(base);
  const variants: KeySpec[] = [
    { ...base, source: base.source + ' ' },
    { ...base, headers: { ...base.headers, 'a.h': '#define A 2\n' } },
    { ...base, headers: { 'a.h': '#define A 1\n', 'c.h': '#define B 2\n' } },
    { ...base, headers: { 'a.h': '#define A 1\n' } },
    { ...base, nameExpressions: ['k', 'k2'] },
    { ...base, options: ['--use_fast_math', '-DBM=64'] },
    { ...base, options: ['-DBM=64'] },
    { ...base, compiler: { id: 'nvcc', version: '13.0' } },
    { ...base, compiler: { id: 'nvrtc', version: '13.1' } },
    { ...base, target: 'sm_89' },
    { ...base, imageKind: 'ptx' },
  ];
  const keys = new Set([k, ...variants.map(cacheKey)]);
  assert.equal(keys.size, variants.length + 1);
});

test('header order does not matter; absent and empty headers are the same', () => {
  const reordered = { ...base, headers: { 'a.h': '#define A 1\n', 'b.h': '#define B 2\n' } };
  assert.equal(cacheKey(reordered), cacheKey(base));
  assert.equal(cacheKey({ ...base, headers: {} }), cacheKey({ ...base, headers: undefined }));
});

test('the encoding is length-prefixed: no two field splits collide', () => {
  const a = cacheKey({ ...base, options: ['-a', 'b'] });
  const b = cacheKey({ ...base, options: ['-ab'] });
  const c = cacheKey({ ...base, options: ['-a b'] });
  assert.equal(new Set([a, b, c]).size, 3);
  const d = cacheKey({ ...base, nameExpressions: ['x'], options: [] });
  const e = cacheKey({ ...base, nameExpressions: [], options: ['x'] });
  assert.notEqual(d, e);
  const f = cacheKey({ ...base, headers: { 'ab.h': 'c' } });
  const g = cacheKey({ ...base, headers: { a: 'b.hc' } });
  assert.notEqual(f, g);
  // non-ASCII is measured in UTF-8 bytes
  assert.notEqual(cacheKey({ ...base, source: 'é' }), cacheKey({ ...base, source: 'e\u0301' }));
});

test('memoizedCacheKey equals cacheKey and does not rehash the same spec object', () => {
  const spec = { ...base };
  const k = memoizedCacheKey(spec);
  assert.equal(k, cacheKey(spec));
  // Mutating the (supposedly immutable) spec shows the memo: the key is remembered per object.
  spec.source = 'changed';
  assert.equal(memoizedCacheKey(spec), k);
  assert.notEqual(memoizedCacheKey({ ...spec }), k);
});
