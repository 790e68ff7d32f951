// What a kernel author porting from CuPy's RawModule expects beyond plain launches: structs by value, cooperative
// launches (grid.sync) with the occupancy check, thread-block clusters (sm_90), prebuilt cubin / PTX / fatbin files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { KernelCache } from '../../src/cache/index.js';
import { NvrtcCompiler } from '../../src/compiler/index.js';
import { JitCompiler } from '../../src/jit/index.js';
import {
  bytesArg,
  Device,
  DeviceBuffer,
  f32,
  i32,
  ImageFileError,
  imageKindOf,
  KernelNotFoundError,
  LaunchArgumentError,
  StructLayout,
} from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';

const skip = gpuSkipReason;
const work = mkdtempSync(join(tmpdir(), 'cuop-gpu-launch-'));
after(() => rmSync(work, { recursive: true, force: true }));
let jitValue: JitCompiler | undefined;
const jit = (): JitCompiler =>
  (jitValue ??= new JitCompiler({
    cache: new KernelCache({ dir: join(work, 'cache'), env: {} }),
    compiler: 'nvrtc',
    record: null,
  }));

const readF32 = (b: DeviceBuffer, n: number): Float32Array => {
  const all = b.downloadAs(Float32Array);
  return all.subarray(0, n);
};

test(
  'a struct by value: mixed field types and padding, laid out as C does; wrong sizes are typed errors',
  { skip },
  async () => {
    const source = `
struct Params { float* out; int n; float alpha; double beta; char tag; short s; float v[3]; };
extern "C" __global__ void fields(Params p, int extra) {
  if (threadIdx.x != 0) return;
  p.out[0] = p.n; p.out[1] = p.alpha; p.out[2] = (float)p.beta; p.out[3] = p.tag; p.out[4] = p.s;
  p.out[5] = sizeof(Params); p.out[6] = extra; p.out[7] = p.v[0] + p.v[1] + p.v[2];
}`;
    const Params = new StructLayout(
      { out: 'ptr', n: 'i32', alpha: 'f32', beta: 'f64', tag: 'i8', s: 'i16', v: ['f32', 3] },
      'Params',
    );
    assert.deepEqual([Params.size, Params.align], [40, 8]);
    const k = await jit().kernel({ source, name: 'fields' });
    const out = DeviceBuffer.alloc(Device.get(0), 64);
    const p = Params.pack({ out, n: 1234, alpha: 0.5, beta: -2.25, tag: -7, s: 31000, v: [1, 2, 3.5] });
    k.launch({ grid: 1, block: 32 }, [p, i32(99)]);
    Device.get(0).synchronize();
    assert.deepEqual([...readF32(out, 8)], [1234, 0.5, -2.25, -7, 31000, 40, 99, 6.5]);
    // A layout of the wrong size, and a plain number where the struct goes: typed errors before the launch.
    const Short = new StructLayout({ out: 'ptr', n: 'i32' }, 'Short');
    assert.throws(
      () => k.launch({ grid: 1, block: 32 }, [Short.pack({ out, n: 1 }), i32(1)]),
      (e: unknown) =>
        e instanceof LaunchArgumentError &&
        /struct of 16 bytes but the kernel's parameter #0 is 40 bytes/.test(e.message),
    );
    assert.throws(
      () => k.launch({ grid: 1, block: 32 }, [5, i32(1)]),
      (e: unknown) =>
        e instanceof LaunchArgumentError && /passed by value\. Pack it with new StructLayout/.test(e.message),
    );
    // Raw bytes of the right size work too.
    k.launch({ grid: 1, block: 32 }, [bytesArg(p.struct, 8), i32(7)]);
    Device.get(0).synchronize();
    assert.equal(readF32(out, 8)[6], 7);
    out.dispose();
  },
);

test(
  'a cooperative launch: a grid-sync reduction over the largest co-resident grid; one block more is refused',
  { skip },
  async () => {
    const source = `
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
extern "C" __global__ void total(const float* x, float* partial, float* result, int n) {
  cg::grid_group grid = cg::this_grid();
  __shared__ float s[256];
  float acc = 0.f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += x[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) { if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w]; __syncthreads(); }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
  grid.sync();
  if (blockIdx.x == 0 && threadIdx.x == 0) { float t = 0.f; for (int b = 0; b < gridDim.x; b++) t += partial[b]; *result = t; }
}`;
    const device = Device.get(0);
    const k = await jit().kernel({ source, name: 'total' });
    const blocks = k.maxCooperativeBlocks(256);
    assert.ok(blocks >= device.multiprocessorCount, `${blocks} blocks co-resident`);
    const n = 1 << 20;
    const host = Float32Array.from({ length: n }, (_, i) => (i % 7) - 3);
    const x = DeviceBuffer.alloc(device, host.byteLength).upload(host);
    const partial = DeviceBuffer.alloc(device, blocks * 4);
    const result = DeviceBuffer.alloc(device, 4);
    k.launch({ grid: blocks, block: 256, cooperative: true }, [x, partial, result, i32(n)]);
    device.synchronize();
    const want = host.reduce((a, b) => a + b, 0);
    assert.equal(readF32(result, 1)[0], want);
    assert.throws(
      () => k.launch({ grid: blocks + 1, block: 256, cooperative: true }, [x, partial, result, i32(n)]),
      (e: unknown) =>
        e instanceof LaunchArgumentError &&
        new RegExp(
          `cooperative grid of ${blocks + 1} blocks cannot be resident at once: at most ${blocks}`,
        ).test(e.message),
    );
    console.log(
      `# cooperative grid: ${blocks} blocks of 256 (${k.occupancy(256)} per SM × ${device.multiprocessorCount})`,
    );
    for (const b of [x, partial, result]) b.dispose();
  },
);

test(
  'a thread-block cluster launch (sm_90): cluster ranks as the kernel sees them; a grid not a multiple is refused',
  { skip },
  async (t) => {
    const device = Device.get(0);
    if (device.computeCapability.major < 9) return t.skip(`clusters need sm_90, this is ${device.arch}`);
    const source = `
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
extern "C" __global__ void ranks(int* out) {
  cg::cluster_group c = cg::this_cluster();
  if (threadIdx.x == 0) out[blockIdx.x] = c.block_rank() + 100 * c.num_blocks();
}`;
    const k = await jit().kernel({ source, name: 'ranks' });
    const out = DeviceBuffer.alloc(device, 8 * 4);
    k.launch({ grid: 8, block: 32, cluster: 4 }, [out]);
    device.synchronize();
    const host = out.downloadAs(Int32Array);
    assert.deepEqual([...host], [400, 401, 402, 403, 400, 401, 402, 403]);
    assert.throws(() => k.launch({ grid: 6, block: 32, cluster: 4 }, [out]), /not a multiple of the cluster/);
    out.dispose();
  },
);

test(
  'prebuilt images from files: cubin, PTX and fatbin load and run; a missing file or kernel is a typed error',
  { skip },
  async () => {
    const device = Device.get(0);
    const source = 'extern "C" __global__ void fill(float* o, float v) { o[threadIdx.x] = v + threadIdx.x; }';
    const nvrtc = new NvrtcCompiler();
    const files: [string, string][] = [];
    for (const imageKind of ['cubin', 'ptx'] as const) {
      const r = await nvrtc.compile({ source, arch: device.arch, nameExpressions: ['fill'], imageKind });
      const path = join(work, `fill.${imageKind}`);
      writeFileSync(path, r.image);
      files.push([imageKind, path]);
    }
    const cu = join(work, 'fill.cu');
    writeFileSync(cu, source);
    const fatbin = join(work, 'fill.fatbin');
    const nvcc = spawnSync('nvcc', ['-fatbin', `-arch=${device.arch}`, '-o', fatbin, cu], {
      encoding: 'utf8',
    });
    if (nvcc.status === 0) files.push(['fatbin', fatbin]);
    else
      console.log(
        `# no nvcc here (${nvcc.error?.message ?? nvcc.stderr.trim()}): the fatbin case is skipped`,
      );
    const out = DeviceBuffer.alloc(device, 32 * 4);
    for (const [kind, path] of files) {
      const m = device.loadModuleFile(path);
      m.getKernel('fill').launch({ grid: 1, block: 32 }, [out, f32(10)]);
      device.synchronize();
      assert.deepEqual([...readF32(out, 3)], [10, 11, 12], kind);
      assert.throws(() => m.getKernel('nope'), KernelNotFoundError);
    }
    assert.deepEqual(
      files.map(([kind, path]) => [kind, imageKindOf(readFileSync(path))]),
      files.map(([kind]) => [kind, kind]),
    );
    assert.throws(
      () => device.loadModuleFile(join(work, 'missing.cubin')),
      (e: unknown) => e instanceof ImageFileError && /missing\.cubin: no such file/.test(e.message),
    );
    console.log(`# prebuilt images loaded: ${files.map(([k]) => k).join(', ')}`);
    out.dispose();
  },
);

test('device printf reaches stdout after a synchronize; a foreign stream handle launches', { skip }, () => {
  const child = new URL('./child-printf.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [child], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').sort();
  assert.deepEqual(lines, ['done', 'hello from thread 0', 'hello from thread 1', 'hello from thread 2']);
});
