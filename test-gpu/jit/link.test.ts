// Separate compilation on the GPU: two programs with an extern __device__ function between them, dynamic
// parallelism (the device runtime linked in), LTO through nvJitLink, a prebuilt host object from nvcc -dc, and an
// -rdc kernel spec through jit.kernel(). Each runs and its output is checked; each is also a cache hit afterwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { KernelCache } from '../../src/cache/index.js';
import { LinkError, type LinkerPreference } from '../../src/compiler/index.js';
import { JitCompiler, type LinkSpec } from '../../src/jit/index.js';
import { Device, i32 } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const work = mkdtempSync(join(tmpdir(), 'cuop-gpu-link-'));
after(() => rmSync(work, { recursive: true, force: true }));
const jitWith = (linker: LinkerPreference, dir = 'cache'): JitCompiler =>
  new JitCompiler({
    cache: new KernelCache({ dir: join(work, dir), env: {} }),
    compiler: 'nvrtc',
    linker,
    record: null,
  });

const CALLER = `extern __device__ float twice(float x);
extern "C" __global__ void scale(float* o, int n) { int i = threadIdx.x; if (i < n) o[i] = twice(o[i]) + 1.0f; }`;
const CALLEE = '__device__ float twice(float x) { return 2.0f * x; }';
const DYNAMIC = `extern "C" __global__ void child(int* o) { o[threadIdx.x] += 10; }
extern "C" __global__ void parent(int* o) { o[threadIdx.x] += 1; if (threadIdx.x == 0) child<<<1, 32>>>(o); }`;
const spec = (extra: Partial<LinkSpec> = {}): LinkSpec => ({
  programs: [
    { source: CALLER, names: ['scale'], programName: 'caller.cu' },
    { source: CALLEE, programName: 'callee.cu' },
  ],
  ...extra,
});

async function runScale(jit: JitCompiler, s: LinkSpec): Promise<number[]> {
  const device = Device.get(0);
  const mod = await jit.link(s, device);
  const buf = device.upload(new Float32Array([1, 2, 3, 4]));
  mod.kernel('scale').launch({ grid: 1, block: 32 }, [buf, i32(4)]);
  const out = [...buf.downloadAs(Float32Array)];
  buf.dispose();
  return out;
}

for (const linker of ['nvjitlink', 'nvlink'] as const) {
  test(
    `${linker}: two programs linked through an extern __device__ function run, then hit`,
    { skip },
    async () => {
      const jit = jitWith(linker, `c-${linker}`);
      assert.deepEqual(await runScale(jit, spec()), [3, 5, 7, 9]);
      const again = jitWith(linker, `c-${linker}`);
      assert.deepEqual(await runScale(again, spec()), [3, 5, 7, 9]);
      assert.equal(
        again.getStats().process.compiles,
        0,
        'a fresh JIT over the same dir neither compiles nor links',
      );
      assert.equal(again.getStats().process.hits.disk, 1);
      const image = (await again.compileLink(spec(), Device.get(0).arch)).entry.image;
      assert.ok(image.length < 50_000, `no device runtime where nothing launches (${image.length} B)`);
    },
  );
}

test('dynamic parallelism: a kernel launches a kernel (device runtime linked)', { skip }, async () => {
  const jit = jitWith('auto');
  const device = Device.get(0);
  const mod = await jit.link(
    { programs: [{ source: DYNAMIC, names: ['parent'], programName: 'dp.cu' }] },
    device,
  );
  const buf = device.upload(new Int32Array(32));
  mod.kernel('parent').launch({ grid: 1, block: 32 }, [buf]);
  assert.deepEqual([...buf.downloadAs(Int32Array)], new Array(32).fill(11));
  buf.dispose();
});

// Linked with the device runtime (the default), so a second module holding it loads beside test 3's. (The crash once
// blamed on that was nvJitLink's: a second link after one on koffi's async worker; links now run synchronously.)
test('an -rdc kernel spec through jit.kernel(): linked, launched, then resident', { skip }, async () => {
  const jit = jitWith('auto');
  const device = Device.get(0);
  const source = `__device__ int bump(int x) { return x + 11; }
extern "C" __global__ void relocated(int* o) { o[threadIdx.x] = bump(o[threadIdx.x]); }`;
  const s = { source, name: 'relocated', options: ['-rdc=true'], programName: 'rdc.cu' };
  const k = await jit.kernel(s, device);
  const buf = device.upload(new Int32Array(32));
  k.launch({ grid: 1, block: 32 }, [buf]);
  assert.deepEqual([...buf.downloadAs(Int32Array)], new Array(32).fill(11));
  assert.equal(await jit.kernel(s, device), k, 'the second call is the resident kernel');
  buf.dispose();
});

test('LTO through nvJitLink: IR compiled by NVRTC, optimized at link time, runs', { skip }, async () => {
  const jit = jitWith('nvjitlink', 'c-lto');
  assert.deepEqual(await runScale(jit, spec({ lto: true })), [3, 5, 7, 9]);
  const lookup = await jit.compileLink(spec({ lto: true }), Device.get(0).arch);
  assert.equal(lookup.tier, 'memory');
  assert.equal(lookup.entry.meta.compiler.id, 'nvjitlink');
});

test('a prebuilt host object (nvcc -dc) linked with an NVRTC program', { skip }, async (t) => {
  const nvcc = ['/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc'].find((p) => existsSync(p));
  if (!nvcc) return t.skip('no nvcc on this host');
  const src = join(work, 'callee.cu');
  writeFileSync(src, CALLEE);
  const obj = join(work, 'callee.o');
  execFileSync(nvcc, [`-arch=${Device.get(0).arch}`, '-dc', src, '-o', obj]);
  const jit = jitWith('auto', 'c-obj');
  assert.deepEqual(
    await runScale(jit, { programs: [{ source: CALLER, names: ['scale'] }], objects: [{ path: obj }] }),
    [3, 5, 7, 9],
  );
});

test('an unresolved symbol is a LinkError carrying the linker log', { skip }, async () => {
  const jit = jitWith('auto', 'c-err');
  await assert.rejects(
    jit.link({ programs: [{ source: CALLER, names: ['scale'], programName: 'caller.cu' }] }, Device.get(0)),
    (e: unknown) => e instanceof LinkError && /twice|_Z5twicef/.test(e.message),
  );
});
