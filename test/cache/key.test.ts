import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CACHE_FORMAT_VERSION,
  CODEGEN_EPOCH,
  cacheKey,
  dependentKey,
  familyKey,
  memoizedCacheKey,
  type KeySpec,
} from '../../src/cache/key.js';
import { KEY_SPEC_SAMPLE } from './fixtures.js';

const base = KEY_SPEC_SAMPLE;

test('pinned keys: the encoding is stable (a change here invalidates every cache on disk)', () => {
  assert.equal(CACHE_FORMAT_VERSION, 2);
  assert.equal(cacheKey(base), '9d57fff5ea2558ebf766a72f730e348b374c613d46565fdad8a14f6e82bf95dc');
  assert.equal(
    cacheKey({
      source: '',
      nameExpressions: [],
      options: [],
      compiler: { id: 'nvcc', version: '13.0.88' },
      target: 'sm_80',
      imageKind: 'ptx',
    }),
    '187e306bf71229bb6c23fa82a895f89b1fe2c4fab195fc4e600a974d5df9dc76',
  );
  assert.equal(
    cacheKey({ ...base, headers: undefined, nameExpressions: ['gemm<float, 64>'], options: [] }),
    '850f8779d261998dfbfa1ff3862994ce446df6fe8173fd093213b9c7ad8231be',
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

test('memoizedCacheKey equals cacheKey; a spec mutated after its first use gets its new key', () => {
  const spec = { ...base, options: [...base.options], headers: { ...base.headers } };
  const k = memoizedCacheKey(spec);
  assert.equal(k, cacheKey(spec));
  const mutations: ((s: typeof spec) => void)[] = [
    (s) => (s.source = 'changed'),
    (s) => s.options.push('-G'),
    (s) => (s.options[0] = '-DBM=128'),
    (s) => ((s.headers as Record<string, string>)['a.h'] = 'other'),
    (s) => ((s.headers as Record<string, string>)['new.h'] = ''),
    (s) => (s.target = 'sm_80'),
    (s) => (s.salt = 'team-a'),
  ];
  for (const mutate of mutations) {
    const before = memoizedCacheKey(spec);
    mutate(spec);
    const after = memoizedCacheKey(spec);
    assert.notEqual(after, before, String(mutate));
    assert.equal(after, cacheKey(spec));
  }
});

test('the family key ignores the names; the dependent key covers every file and absent path', () => {
  assert.equal(familyKey(base), familyKey({ ...base, nameExpressions: ['other'] }));
  assert.notEqual(familyKey(base), familyKey({ ...base, options: [] }));
  const k = cacheKey(base);
  const f = { path: '/i/a.h', sha256: 'a'.repeat(64) };
  const d = dependentKey(k, [f], []);
  assert.notEqual(d, k);
  assert.notEqual(dependentKey(k, [{ ...f, sha256: 'b'.repeat(64) }], []), d);
  assert.notEqual(dependentKey(k, [{ ...f, path: '/j/a.h' }], []), d);
  assert.notEqual(dependentKey(k, [f], ['/i/b.h']), d);
  assert.equal(
    dependentKey(k, [f, { path: '/z', sha256: f.sha256 }], []),
    dependentKey(k, [{ path: '/z', sha256: f.sha256 }, f], []),
  );
});

test('salt and the code-generation epoch are in the key', () => {
  assert.equal(CODEGEN_EPOCH, 1);
  assert.notEqual(cacheKey({ ...base, salt: 'x' }), cacheKey(base));
  assert.equal(cacheKey({ ...base, salt: '' }), cacheKey(base));
});
