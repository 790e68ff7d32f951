// key.ts: what the StrykerJS run (notes/mutation.md) found untested. The dependent key's encoding is pinned like the
// plain key's; every field of the memoized key's snapshot is compared, so a spec mutated in any field after its first
// use gets its new key; a non-string field is refused by name; a key is exactly 64 hex digits.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  cacheKey,
  dependentKey,
  isCacheKey,
  memoizedCacheKey,
  sameStrings,
  type KeySpec,
} from '../../src/cache/key.js';
import { KEY_SPEC_SAMPLE } from './fixtures.js';

const base = KEY_SPEC_SAMPLE;

const fa = { path: '/i/a.h', sha256: 'a'.repeat(64) };
const fb = { path: '/i/b.h', sha256: 'b'.repeat(64) };

test('pinned dependent keys: files sorted by path, absent paths sorted, the cwd in the key when given', () => {
  const k = cacheKey(base);
  assert.equal(
    dependentKey(k, [fb, fa], ['/j/y.h', '/j/x.h'], '/work'),
    '250dfeb18b7be9ce7cf6d5daf679a0b3461d975c15daeb3360730bd3fcc736df',
  );
  assert.equal(
    dependentKey(k, [fb, fa], ['/j/y.h', '/j/x.h']),
    '7e74fd5620ff90a2550fac7ed34dac93fe6e4898279f6b5ff968284001b1aece',
  );
});

test('the dependent key does not depend on the order files and absent paths are given in', () => {
  const k = cacheKey(base);
  const d = dependentKey(k, [fa, fb], ['/j/x.h', '/j/y.h'], '/work');
  assert.equal(dependentKey(k, [fb, fa], ['/j/x.h', '/j/y.h'], '/work'), d);
  assert.equal(dependentKey(k, [fa, fb], ['/j/y.h', '/j/x.h'], '/work'), d);
});

test('the dependent key covers the cwd the compile resolved relative paths against', () => {
  const k = cacheKey(base);
  const without = dependentKey(k, [fa], []);
  const a = dependentKey(k, [fa], [], '/work/a');
  const b = dependentKey(k, [fa], [], '/work/b');
  assert.equal(new Set([without, a, b]).size, 3);
});

test('the file name (__FILE__ in the code) is in the key; an empty one is none', () => {
  const k = cacheKey(base);
  assert.notEqual(cacheKey({ ...base, fileName: 'k.cu' }), k);
  assert.notEqual(cacheKey({ ...base, fileName: 'k.cu' }), cacheKey({ ...base, fileName: 'j.cu' }));
  assert.equal(cacheKey({ ...base, fileName: '' }), k);
});

test('a field that is not a string is refused by name, never encoded as something else', () => {
  const bad: [string, KeySpec][] = [
    ['source', { ...base, source: Buffer.from(base.source) as unknown as string }],
    ['source', { ...base, source: 42 as unknown as string }],
    ['target', { ...base, target: undefined as unknown as string }],
    ['-', { ...base, options: [Buffer.from('-O3') as unknown as string] }],
  ];
  for (const [tag, spec] of bad) {
    assert.throws(
      () => cacheKey(spec),
      (e: unknown) =>
        e instanceof TypeError && new RegExp(`cache key: ${tag} must be a string`).test(e.message),
      tag,
    );
  }
});

test('a spec mutated after its first use gets its new key, whichever field changed', () => {
  const fresh = (): KeySpec & {
    nameExpressions: string[];
    options: string[];
    headers: Record<string, string>;
  } => ({
    ...base,
    nameExpressions: [...base.nameExpressions],
    options: [...base.options],
    headers: { ...base.headers },
    compiler: { ...base.compiler },
  });
  type Mutable = ReturnType<typeof fresh>;
  const oneHeader = (s: Mutable): void => void (s.headers = { 'a.h': '#define A 1\n' });
  const cases: [string, (s: Mutable) => void, ((s: Mutable) => void)?][] = [
    ['an option removed', (s) => void s.options.pop()],
    ['every option replaced', (s) => void s.options.splice(0, 2, '-O1', '-O2')],
    [
      'every option replaced, no names',
      (s) => void s.options.splice(0, 2, '-O1', '-O2'),
      (s) => (s.nameExpressions = []),
    ],
    [
      'names and options both cut to a prefix',
      (s) => (s.nameExpressions.pop(), s.options.pop()),
      (s) => void s.nameExpressions.push('k2'),
    ],
    ['the one header changed', (s) => (s.headers['a.h'] = '#define A 7\n'), oneHeader],
    ['a header deleted', (s) => delete s.headers['a.h']],
    ['the headers removed', (s) => ((s as KeySpec).headers = undefined)],
    ['the image kind', (s) => (s.imageKind = 'ptx')],
    ['the file name', (s) => (s.fileName = 'k.cu')],
    ['the compiler id', (s) => (s.compiler = { id: 'nvcc', version: s.compiler.version })],
    ['the compiler version', (s) => (s.compiler = { id: s.compiler.id, version: '13.1' })],
  ];
  for (const [what, mutate, setup] of cases) {
    const spec = fresh();
    setup?.(spec);
    memoizedCacheKey(spec);
    const before = memoizedCacheKey(spec); // served from the memo
    mutate(spec);
    const after = memoizedCacheKey(spec);
    assert.notEqual(after, before, what);
    assert.equal(after, cacheKey(spec), what);
  }
});

test('headers given after a first use without any (absent, or an empty object) change the key', () => {
  const none: KeySpec = { ...base, headers: undefined };
  const before = memoizedCacheKey(none);
  (none as { headers?: Record<string, string> }).headers = { 'a.h': 'x' };
  assert.notEqual(memoizedCacheKey(none), before);
  assert.equal(memoizedCacheKey(none), cacheKey(none));

  const headers: Record<string, string> = {};
  const empty: KeySpec = { ...base, headers };
  const emptyKey = memoizedCacheKey(empty);
  headers['a.h'] = 'x';
  assert.notEqual(memoizedCacheKey(empty), emptyKey);
  assert.equal(memoizedCacheKey(empty), cacheKey(empty));
});

test('a cache key is exactly 64 lowercase hex digits: nothing before or after', () => {
  const k = cacheKey(base);
  assert.equal(isCacheKey(k), true);
  for (const s of [`../${k}`, `${k}/..`, `${k}0`, `0${k}`, k.toUpperCase(), k.slice(1), `${k}\n`]) {
    assert.equal(isCacheKey(s), false, JSON.stringify(s));
  }
});

test('sameStrings: an absent list equals only an absent list (prepared JIT specs compare optional lists)', () => {
  assert.equal(sameStrings(undefined, undefined), true);
  assert.equal(sameStrings(['a'], ['a']), true);
  for (const [a, b] of [
    [undefined, ['a']],
    [['a'], undefined],
    [undefined, []],
    [[], undefined],
    [['a'], ['a', 'b']],
    [['a', 'b'], ['a']],
  ] as const) {
    assert.equal(sameStrings(a, b), false, JSON.stringify([a, b]));
  }
});
