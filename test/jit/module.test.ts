// Many kernels, one compile: a module spec compiles once, caches one image and hands out each kernel; jit.kernel()
// for a name the cached module holds is a hit. Equivalent spellings of a name share one entry. Real nvcc.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { KernelCache } from '../../src/cache/index.js';
import { KernelNameError } from '../../src/compiler/index.js';
import { JitCompiler, type ModuleSpec } from '../../src/jit/index.js';

const quiet = { warn: () => {}, debug: () => {} };
const five =
  [1, 2, 3, 4, 5]
    .map((i) => `extern "C" __global__ void k${i}(float* x) { x[threadIdx.x] *= ${i}.0f; }`)
    .join('\n') + '\ntemplate <typename T, int N> __global__ void scale(T* x) { x[threadIdx.x] *= T(N); }\n';

function withJit(fn: (jit: JitCompiler, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-module-'));
  const jit = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
  return fn(jit, dir).finally(async () => {
    await jit.cache.close();
    rmSync(dir, { recursive: true, force: true });
  });
}

test('a module of five kernels is one compile and one image; each kernel of it is then a hit', () =>
  withJit(async (jit, dir) => {
    const spec: ModuleSpec = { source: five, names: ['k1', 'k2', 'k3', 'k4', 'k5'] };
    const m = await jit.compile(spec, 'sm_90');
    assert.equal(m.tier, 'compiled');
    assert.deepEqual(m.entry.meta.kernelNames, ['k1', 'k2', 'k3', 'k4', 'k5']);
    assert.deepEqual(Object.keys(m.entry.meta.loweredNames).sort(), ['k1', 'k2', 'k3', 'k4', 'k5']);
    for (const name of ['k3', 'k1', 'k5']) {
      const k = await jit.compile({ source: five, name }, 'sm_90');
      assert.equal(k.tier, 'memory', name);
      assert.equal(k.key, m.key, 'the module entry itself');
    }
    // names in another order, or repeated: the same module
    assert.equal(
      (await jit.compile({ source: five, names: ['k5', 'k4', 'k3', 'k2', 'k1', 'k1'] }, 'sm_90')).tier,
      'memory',
    );
    assert.equal(jit.getStats().process.compiles, 1);
    await jit.cache.close();

    // a new process's view: the kernel is found in the module on disk through the family's manifest
    const fresh = new JitCompiler({ cache: new KernelCache({ dir, logger: quiet }), compiler: 'nvcc' });
    const k2 = await fresh.compile({ source: five, name: 'k2' }, 'sm_90');
    assert.equal(k2.tier, 'disk');
    assert.equal(k2.key, m.key);
    // a kernel the module lacks is its own compile
    assert.equal((await fresh.compile({ source: five, name: 'scale<float, 2>' }, 'sm_90')).tier, 'compiled');
    assert.equal(fresh.getStats().process.compiles, 1);
    await fresh.cache.close();
  }));

test('equivalent spellings of a name expression are one key and one compile', () =>
  withJit(async (jit) => {
    const spellings = ['scale<float, 4>', 'scale< float , 4 >', '&scale<float,4>', ' & scale<float,  4>'];
    const keys = new Set<string>();
    for (const name of spellings) keys.add((await jit.compile({ source: five, name }, 'sm_90')).key);
    assert.equal(keys.size, 1);
    assert.equal(jit.getStats().process.compiles, 1);
    const lookup = await jit.compile({ source: five, name: '&scale<float,4>' }, 'sm_90');
    assert.match(lookup.entry.meta.loweredNames['scale<float,4>'] ?? '', /^_Z5scaleIfLi4EEvPT_$/);
  }));

test('a template module: several instantiations in one image', () =>
  withJit(async (jit) => {
    const m = await jit.compile({ source: five, names: ['scale<float, 2>', 'scale<double, 3>'] }, 'sm_90');
    assert.deepEqual(m.entry.meta.kernelNames, ['scale<double,3>', 'scale<float,2>']);
    assert.equal((await jit.compile({ source: five, name: 'scale<double,3>' }, 'sm_90')).tier, 'memory');
  }));

test('names that are not names are refused before anything is compiled', () =>
  withJit(async (jit) => {
    await assert.rejects(
      jit.compile({ source: five, name: 'k1); } __global__ void evil() { //' }, 'sm_90'),
      KernelNameError,
    );
    await assert.rejects(jit.compile({ source: five, names: ['k1', 'k2;'] }, 'sm_90'), /names\[1\]/);
    assert.equal(jit.getStats().process.misses, 0, 'nothing reached the cache or the compiler');
  }));
