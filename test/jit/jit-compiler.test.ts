import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KernelCache } from '../../src/cache/index.js';
import { CompileError } from '../../src/compiler/index.js';
import { JitCompiler, JitDisabledError, type KernelSpec } from '../../src/jit/index.js';
import { WGMMA_CONFIGS, wgmmaSource } from '../../src/ops/gemm-wgmma-source.js';
import { wgmmaKernelSpec } from '../../src/ops/gemm-wgmma.js';

// Real nvcc compiles (no NVRTC on the CPU box); each spec differs so each is its own cache entry.
const spec = (i: number): KernelSpec => ({
  source: `extern "C" __global__ void k${i}(float* x) { x[threadIdx.x] *= ${i + 1}.0f; }`,
  name: `k${i}`,
  programName: `k${i}.cu`,
});
const quiet = { warn: () => {}, debug: () => {} };
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'cuop-jit-'));

test('compile: a miss compiles, then memory in-process, then disk in a new JIT over the same dir', async () => {
  const dir = tempDir();
  try {
    const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const s = spec(0);
    assert.equal((await jit.compile(s, 'sm_90')).tier, 'compiled');
    assert.equal((await jit.compile(s, 'sm_90')).tier, 'memory');
    assert.equal((await jit.compile({ ...s }, 'sm_90')).tier, 'memory'); // equal spec, new object: same key
    const other = await jit.compile(s, 'sm_80');
    assert.equal(other.tier, 'compiled', 'another arch is another key');
    await jit.cache.close();
    const fresh = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const hit = await fresh.compile(s, 'sm_90');
    assert.equal(hit.tier, 'disk');
    assert.equal(hit.entry.meta.imageKind, 'cubin');
    assert.deepEqual(hit.entry.meta.kernelNames, ['k0']);
    assert.equal(hit.entry.meta.compiler.id, 'nvcc');
    await fresh.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warm: precompiles a list with bounded concurrency, reports progress and failures', async () => {
  const dir = tempDir();
  try {
    const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const bad: KernelSpec = {
      source: 'extern "C" __global__ void b() { nope; }',
      name: 'b',
      programName: 'bad.cu',
    };
    const specs = [spec(1), spec(2), spec(3), bad];
    const seen: number[] = [];
    const report = await jit.warm(specs, {
      arch: 'sm_90',
      concurrency: 2,
      onProgress: (p) => seen.push(p.done),
    });
    assert.deepEqual(seen, [1, 2, 3, 4]);
    assert.equal(report.total, 4);
    assert.equal(report.byTier['compiled'], 3);
    assert.equal(report.failed.length, 1);
    assert.ok(report.failed[0]?.error instanceof CompileError);
    assert.match(report.failed[0]?.error.message ?? '', /bad\.cu\(1\): error/);
    const again = await jit.warm(specs.slice(0, 3), { arch: 'sm_90' });
    assert.equal(again.byTier['memory'], 3);
    assert.equal(
      jit.getStats().process.compiles,
      3,
      'a CompileError is never cached and nothing compiles twice',
    );
    await jit.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('allowCompile: false serves the cache and refuses to compile a miss', async () => {
  const dir = tempDir();
  try {
    const warmer = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    await warmer.compile(spec(4), 'sm_90');
    await warmer.cache.close();
    const strict = new JitCompiler({
      cache: new KernelCache({ dir, logger: quiet }),
      compiler: 'nvcc',
      allowCompile: false,
    });
    assert.equal((await strict.compile(spec(4), 'sm_90')).tier, 'disk');
    await assert.rejects(strict.compile(spec(5), 'sm_90'), (e: unknown) => {
      return e instanceof JitDisabledError && /k5\.cu/.test(e.message) && /warm\(\)/.test(e.message);
    });
    assert.equal(strict.getStats().process.compiles, 0);
    await strict.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the key covers options and headers: changing either compiles anew', async () => {
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, logger: quiet }), compiler: 'nvcc' });
  const base: KernelSpec = {
    source: '#include "scale.h"\nextern "C" __global__ void s(float* x) { x[0] *= SCALE; }',
    name: 's',
    headers: { 'scale.h': '#define SCALE 2.0f' },
  };
  const a = await jit.compile(base, 'sm_90');
  const b = await jit.compile({ ...base, headers: { 'scale.h': '#define SCALE 3.0f' } }, 'sm_90');
  const c = await jit.compile({ ...base, options: ['-DUNUSED=1'] }, 'sm_90');
  assert.equal(new Set([a.key, b.key, c.key]).size, 3);
  assert.deepEqual([a.tier, b.tier, c.tier], ['compiled', 'compiled', 'compiled']);
  assert.notDeepEqual(a.entry.image, b.entry.image);
  await jit.cache.close();
});

test('the compiler identity is remembered in the cache dir; a stale memory is corrected before any compile', async () => {
  const dir = tempDir();
  try {
    const first = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const real = await first.compilerInfo();
    await first.compile(spec(6), 'sm_90');
    await first.cache.close();
    const memo = JSON.parse(readFileSync(join(dir, 'compilers.json'), 'utf8')) as Record<string, unknown>;
    const [fingerprint] = Object.keys(memo);
    assert.ok(fingerprint?.startsWith('nvcc|'), fingerprint);
    assert.deepEqual(memo[fingerprint ?? ''], real);

    // A later process trusts the memo (no `nvcc --version`): plant a wrong version to prove it is the memo speaking.
    writeFileSync(
      join(dir, 'compilers.json'),
      JSON.stringify({ [fingerprint ?? '']: { id: 'nvcc', version: '0.0.1' } }),
    );
    const second = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    assert.deepEqual(await second.compilerInfo(), { id: 'nvcc', version: '0.0.1' });
    // A miss compiles only after checking the real compiler: the lookup is redone under the real identity, so the
    // entry compiled earlier is found and nothing is labelled with the stale version.
    const r = await second.compile(spec(6), 'sm_90');
    assert.equal(r.tier, 'disk');
    assert.equal(r.entry.meta.compiler.version, real.version);
    assert.deepEqual(await second.compilerInfo(), real);
    const fixed = JSON.parse(readFileSync(join(dir, 'compilers.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(fixed[fingerprint ?? ''], real);
    await second.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale identity memory with concurrent misses: no crash, nothing labelled with the stale version', async () => {
  const dir = tempDir();
  try {
    const first = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const real = await first.compilerInfo();
    await first.cache.close();
    const memoPath = join(dir, 'compilers.json');
    const [fingerprint] = Object.keys(JSON.parse(readFileSync(memoPath, 'utf8')) as object);
    writeFileSync(memoPath, JSON.stringify({ [fingerprint ?? '']: { id: 'nvcc', version: '0.0.2' } }));
    const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const results = await Promise.allSettled([spec(7), spec(8), spec(9)].map((s) => jit.compile(s, 'sm_90')));
    for (const r of results) {
      assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      if (r.status === 'fulfilled') assert.equal(r.value.entry.meta.compiler.version, real.version);
    }
    await jit.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a spec object mutated after its first use never returns the old kernel', async () => {
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, logger: quiet }), compiler: 'nvcc' });
  const s: { source: string; name: string; options: string[]; headers: Record<string, string> } = {
    source: '#include "v.h"\nextern "C" __global__ void m(float* x) { x[0] = V * W; }\n',
    name: 'm',
    options: ['-DW=1.0f'],
    headers: { 'v.h': '#define V 10.5f' },
  };
  const keys = [(await jit.compile(s, 'sm_90')).key];
  s.headers['v.h'] = '#define V 20.5f';
  keys.push((await jit.compile(s, 'sm_90')).key);
  s.options[0] = '-DW=2.0f';
  keys.push((await jit.compile(s, 'sm_90')).key);
  s.source = s.source.replace('V * W', 'V + W');
  const last = await jit.compile(s, 'sm_90');
  keys.push(last.key);
  assert.equal(new Set(keys).size, 4);
  assert.equal(last.tier, 'compiled');
  assert.equal((await jit.compile(s, 'sm_90')).tier, 'memory');
  s.name = 'nope';
  await assert.rejects(jit.compile(s, 'sm_90'), /nope/, 'a renamed kernel is looked up (and compiled) anew');
  await jit.cache.close();
});

test('the metadata records each kernel parameter as the compiled code declares it', async () => {
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, logger: quiet }), compiler: 'nvcc' });
  const r = await jit.compile(
    {
      source:
        'extern "C" __global__ void c(float* a, int n, float s, double d, unsigned long long m) {}\n' +
        'template <typename T> __global__ void t(const T* x, T* y, int n) {}\n',
      names: ['c', 't<float>'],
    },
    'sm_90',
  );
  const sig = r.entry.meta.signatures ?? {};
  assert.deepEqual(
    sig['c']?.map((p) => p.kind),
    ['b64', 'b32', 'f32', 'f64', 'b64'],
  );
  const lowered = r.entry.meta.loweredNames['t<float>'] ?? '';
  assert.deepEqual(
    sig[lowered]?.map((p) => [p.kind, p.cType]),
    [
      ['ptr', 'const float*'],
      ['ptr', 'float*'],
      ['i32', 'int'],
    ],
  );
  await jit.cache.close();
});

test('an image larger than the disk budget is not written; one warning names its size and the limit', async () => {
  const dir = tempDir();
  try {
    const warnings: string[] = [];
    const cache = new KernelCache({
      dir,
      policy: { maxDiskBytes: 1000 },
      logger: { warn: (m) => warnings.push(m), debug: () => {} },
    });
    const jit = new JitCompiler({ cache, compiler: 'nvcc' });
    const r = await jit.compile(spec(10), 'sm_90');
    assert.ok(r.entry.image.length > 1000);
    assert.equal((await jit.compile(spec(11), 'sm_90')).tier, 'compiled');
    assert.equal(cache.getStats().cachedKernels.disk, 0);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      new RegExp(`is ${r.entry.image.length} bytes, more than .* limit of 1000 bytes`),
    );
    assert.equal((await jit.compile(spec(10), 'sm_90')).tier, 'memory', 'kept in memory');
    await cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spec fields of the wrong shape are a TypeError naming the field, before any compile', async () => {
  const jit = new JitCompiler({ cache: new KernelCache({ dir: null, logger: quiet }), compiler: 'nvcc' });
  const bad = (over: Record<string, unknown>) => ({ ...spec(12), ...over }) as unknown as KernelSpec;
  await assert.rejects(jit.compile(bad({ options: '-O3' }), 'sm_90'), /options must be an array of strings/);
  await assert.rejects(jit.compile(bad({ options: [3] }), 'sm_90'), /options must be an array/);
  await assert.rejects(jit.compile(bad({ source: undefined }), 'sm_90'), /source must be/);
  await assert.rejects(jit.compile(bad({ headers: { 'a.h': 1 } }), 'sm_90'), /headers must map/);
  await assert.rejects(jit.compile(bad({ name: 7 }), 'sm_90'), /name must be a string/);
  assert.equal(jit.getStats().process.misses, 0);
  await jit.cache.close();
});

test('an arch-specific target in the options (-arch=sm_90a) is the key and compile target on an sm_90 request', async () => {
  const dir = tempDir();
  try {
    const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    // The Hopper GEMM's own spec: wgmma and setmaxnreg compile only for sm_90a.
    const gen = wgmmaSource({
      dtype: 'bfloat16',
      transA: true,
      transB: false,
      config: WGMMA_CONFIGS.wgmma64x128,
    });
    const s = wgmmaKernelSpec(gen);
    const r = await jit.compile(s, 'sm_90');
    assert.equal(r.tier, 'compiled');
    assert.equal(r.entry.meta.target, 'sm_90a');
    assert.equal(
      (await jit.compile({ ...s, options: [] }, 'sm_90').catch((e: unknown) => e)) instanceof CompileError,
      true,
    );
    await assert.rejects(jit.compile(s, 'sm_89'), /compiled for sm_90a .* cannot run on a sm_89 device/);
    await jit.cache.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
