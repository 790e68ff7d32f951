// The key cases of "keys you can trust", with NVRTC and real launches: a header edited on disk gives the new
// result in this process and the next; shadowing and working-directory includes miss; a module is one compile;
// equivalent spellings are one kernel; the compiled code's parameter types are checked at launch.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../../src/cache/index.js';
import { JitCompiler, type KernelSpec } from '../../src/jit/index.js';
import { Device, f32, i32, LaunchArgumentError, type Kernel } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const valueSource =
  '#include "tile.cuh"\nextern "C" __global__ void value(float* x) { x[threadIdx.x] = VALUE; }\n';

function run(device: Device, k: Kernel): number {
  using buf = device.upload(new Float32Array(4).fill(-1));
  k.launch({ grid: 1, block: 4 }, [buf]);
  device.synchronize();
  return buf.downloadAs(Float32Array)[0] as number;
}

function scratch(): { root: string; inc: string; inc2: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'cuop-gpu-keys-'));
  const inc = join(root, 'include');
  const inc2 = join(root, 'include2');
  mkdirSync(inc);
  mkdirSync(inc2);
  return { root, inc, inc2, done: () => rmSync(root, { recursive: true, force: true }) };
}

test(
  'NVRTC: a header on -I edited gives the new result, in this process and in the next',
  { skip },
  async () => {
    const s = scratch();
    try {
      const device = Device.get(0);
      const dir = join(s.root, 'cache');
      writeFileSync(join(s.inc, 'tile.cuh'), '#pragma once\n#include "detail.cuh"\n');
      writeFileSync(join(s.inc, 'detail.cuh'), '#define VALUE 1.5f\n');
      const jit = new JitCompiler({ cache: new KernelCache({ dir }) });
      const spec: KernelSpec = { source: valueSource, name: 'value', options: [`-I${s.inc}`] };
      assert.equal(run(device, await jit.kernel(spec, device)), 1.5);
      const later = new Date(Date.now() + 10_000);
      utimesSync(join(s.inc, 'detail.cuh'), later, later); // touched, not changed
      assert.equal(run(device, await jit.kernel(spec, device)), 1.5);
      assert.equal(jit.getStats().process.compiles, 1);
      writeFileSync(join(s.inc, 'detail.cuh'), '#define VALUE 2.5f\n');
      assert.equal(run(device, await jit.kernel(spec, device)), 2.5);
      assert.equal(jit.getStats().process.compiles, 2);
      await jit.cache.close();

      const child = fileURLToPath(new URL('./child-header.js', import.meta.url));
      const fresh = () =>
        JSON.parse(execFileSync(process.execPath, [child, dir, s.inc], { encoding: 'utf8' })) as {
          tier: string;
          value: number;
        };
      assert.deepEqual(fresh(), { tier: 'disk', value: 2.5 });
      writeFileSync(join(s.inc, 'detail.cuh'), '#define VALUE 3.5f\n');
      assert.deepEqual(fresh(), { tier: 'compiled', value: 3.5 });
      assert.deepEqual(fresh(), { tier: 'disk', value: 3.5 });
    } finally {
      s.done();
    }
  },
);

test(
  'NVRTC: a same-named header added earlier on the search path misses; removed, the old entry hits',
  { skip },
  async () => {
    const s = scratch();
    try {
      const device = Device.get(0);
      writeFileSync(join(s.inc2, 'tile.cuh'), '#define VALUE 10.0f\n');
      const jit = new JitCompiler({ cache: new KernelCache({ dir: join(s.root, 'cache') }) });
      const spec: KernelSpec = { source: valueSource, name: 'value', options: [`-I${s.inc}`, `-I${s.inc2}`] };
      assert.equal(run(device, await jit.kernel(spec, device)), 10);
      writeFileSync(join(s.inc, 'tile.cuh'), '#define VALUE 20.0f\n');
      assert.equal(run(device, await jit.kernel(spec, device)), 20);
      unlinkSync(join(s.inc, 'tile.cuh'));
      assert.equal(run(device, await jit.kernel(spec, device)), 10);
      assert.equal(jit.getStats().process.compiles, 2);
      await jit.cache.close();
    } finally {
      s.done();
    }
  },
);

test(
  'NVRTC: an in-memory header including a file of the working directory follows the directory',
  { skip },
  async () => {
    const s = scratch();
    const cwd = process.cwd();
    try {
      const device = Device.get(0);
      writeFileSync(join(s.inc, 'near.h'), '#define VALUE 4.0f\n');
      writeFileSync(join(s.inc2, 'near.h'), '#define VALUE 5.0f\n');
      const jit = new JitCompiler({ cache: new KernelCache({ dir: join(s.root, 'cache') }) });
      const spec: KernelSpec = {
        source: '#include "m.h"\nextern "C" __global__ void value(float* x) { x[threadIdx.x] = VALUE; }\n',
        name: 'value',
        headers: { 'm.h': '#include "near.h"\n' },
      };
      process.chdir(s.inc);
      assert.equal(run(device, await jit.kernel(spec, device)), 4);
      process.chdir(s.inc2);
      assert.equal(run(device, await jit.kernel(spec, device)), 5, 'never the kernel of the other directory');
      process.chdir(s.inc);
      assert.equal(run(device, await jit.kernel(spec, device)), 4);
      assert.equal(jit.getStats().process.compiles, 2);
      await jit.cache.close();
    } finally {
      process.chdir(cwd);
      s.done();
    }
  },
);

test(
  'NVRTC: a module of five kernels is one compile; each runs; jit.kernel() of one is a hit',
  { skip },
  async () => {
    const device = Device.get(0);
    const jit = new JitCompiler({ cache: new KernelCache({ dir: null }) });
    const source = [1, 2, 3, 4, 5]
      .map((i) => `extern "C" __global__ void set${i}(float* x) { x[threadIdx.x] = ${i}.0f; }`)
      .join('\n');
    const m = await jit.module({ source, names: ['set1', 'set2', 'set3', 'set4', 'set5'] }, device);
    for (let i = 1; i <= 5; i++) assert.equal(run(device, m.kernel(`set${i}`)), i);
    assert.equal(run(device, await jit.kernel({ source, name: 'set4' }, device)), 4);
    assert.equal(jit.getStats().process.compiles, 1);
    assert.throws(() => m.kernel('set6'), /holds no kernel "set6"/);
    await jit.cache.close();
  },
);

test(
  'NVRTC: equivalent spellings of a template kernel are one compile and one kernel',
  { skip },
  async () => {
    const device = Device.get(0);
    const jit = new JitCompiler({ cache: new KernelCache({ dir: null }) });
    const source = 'template <typename T, int N> __global__ void fill(T* x) { x[threadIdx.x] = T(N); }\n';
    const kernels = new Set<Kernel>();
    for (const name of ['fill<float, 7>', 'fill< float ,7 >', '&fill<float,7>']) {
      kernels.add(await jit.kernel({ source, name }, device));
    }
    assert.equal(kernels.size, 1);
    assert.equal(run(device, [...kernels][0] as Kernel), 7);
    assert.equal(jit.getStats().process.compiles, 1);
    await jit.cache.close();
  },
);

test(
  'NVRTC: the compiled parameter types type plain numbers and catch a float for an int',
  { skip },
  async () => {
    const device = Device.get(0);
    const jit = new JitCompiler({ cache: new KernelCache({ dir: null }) });
    const k = await jit.kernel(
      {
        source:
          'extern "C" __global__ void axpb(float* x, int n, float a, float b) {\n' +
          '  int i = threadIdx.x; if (i < n) x[i] = a * x[i] + b; }\n',
        name: 'axpb',
      },
      device,
    );
    using buf = device.upload(new Float32Array([1, 2, 3, 4]));
    k.launch({ grid: 1, block: 4 }, [buf, 3, 2, 0.5]); // no signature given: typed from the compiled code
    device.synchronize();
    assert.deepEqual([...buf.downloadAs(Float32Array)], [2.5, 4.5, 6.5, 4]);
    assert.throws(
      () => k.launch({ grid: 1, block: 4 }, [buf, f32(3), 2, 0.5]),
      (e: unknown) =>
        e instanceof LaunchArgumentError &&
        /argument #1 is a f32 but the kernel's parameter #1 is b32/.test(e.message),
    );
    assert.throws(() => k.launch({ grid: 1, block: 4 }, [buf, i32(3), i32(2), 0.5]), LaunchArgumentError);
    assert.throws(() => k.launch({ grid: 1, block: 4 }, [buf, 3, 2]), /declares 4 parameters/);
    await jit.cache.close();
  },
);
