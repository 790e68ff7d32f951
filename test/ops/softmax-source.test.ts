// CPU tests of the softmax source generator and operator front end: no GPU, no driver.
// Validation and launch planning run on real Tensor objects over a minimal fake DeviceBuffer/Device
// ({ byteLength, device, devicePtr } and { multiprocessorCount, alloc }), with a fake KernelProvider that records
// the requested spec and the launch instead of touching a GPU.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KernelProvider, KernelSpec } from '../../src/jit/types.js';
import type { Device, DeviceBuffer, Kernel, KernelArg, LaunchConfig } from '../../src/runtime/index.js';
import { ShapeError, Softmax, softmax, softmaxSource, Tensor, type DType } from '../../src/ops/index.js';

// ---- nvcc (shared shape with the elementwise/reduce tests) ----
const NVCC = process.env.NVCC ?? 'nvcc';
const nvccMissing = ((): string | false => {
  try {
    execFileSync(NVCC, ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return `nvcc not found (set NVCC=/path/to/nvcc)`;
  }
})();

/** Compile each source for each arch (2 nvcc processes at a time); returns failure messages. */
async function compileAll(units: { label: string; source: string }[], archs: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cuop-softmax-'));
  const jobs = units.flatMap((u, i) => archs.map((arch) => ({ ...u, arch, file: join(dir, `k${i}.cu`) })));
  units.forEach((u, i) => writeFileSync(join(dir, `k${i}.cu`), u.source));
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      await new Promise<void>((done) => {
        execFile(
          NVCC,
          ['-cubin', `-arch=${j.arch}`, '-o', `${j.file}.${j.arch}.cubin`, j.file],
          (err, _o, stderr) => {
            if (err) failures.push(`${j.label} (${j.arch}): ${stderr || err.message}`);
            done();
          },
        );
      });
    }
  };
  try {
    await Promise.all([worker(), worker()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return failures;
}

/** NVRTC resolves no system header and has no <math.h> macros: only the fp16/bf16 headers may be included. */
function assertNvrtcSafe(label: string, source: string): void {
  for (const inc of source.match(/#include\s*[<"][^>"]*[>"]/g) ?? []) {
    assert.match(inc, /^#include <cuda_(fp16|bf16)\.h>$/, `${label}: ${inc} would not resolve under NVRTC`);
  }
  assert.doesNotMatch(
    source,
    /\b(INFINITY|NAN|HUGE_VALF?|FLT_MAX)\b/,
    `${label}: uses a <math.h>/<float.h> macro`,
  );
}

// ---- fakes ----
interface Launch {
  spec: KernelSpec;
  config: LaunchConfig;
  args: readonly KernelArg[];
}
const fakeDevice = {
  multiprocessorCount: 132,
  alloc: (bytes: number) => fakeBuffer(bytes, 8192n),
} as unknown as Device;
function fakeBuffer(byteLength: number, ptr: bigint, device = fakeDevice): DeviceBuffer {
  return { byteLength, device, devicePtr: ptr } as unknown as DeviceBuffer;
}
function fake(
  shape: number[],
  dtype: DType = 'float32',
  opts: { strides?: number[]; ptr?: bigint } = {},
): Tensor {
  return new Tensor(fakeBuffer(1 << 30, opts.ptr ?? 4096n), shape, dtype, opts.strides);
}
const noJit: KernelProvider = {
  kernel: () => {
    throw new Error('a kernel was requested: validation should have failed before');
  },
};
function recordingJit(): { jit: KernelProvider; launches: Launch[] } {
  const launches: Launch[] = [];
  const jit: KernelProvider = {
    kernel: (spec) =>
      Promise.resolve({
        launch: (config: LaunchConfig, args: readonly KernelArg[]) => launches.push({ spec, config, args }),
      } as unknown as Kernel),
  };
  return { jit, launches };
}

const DTYPES: DType[] = ['float32', 'float16', 'bfloat16'];
const WIDTH: Record<DType, number> = { float32: 4, float16: 8, bfloat16: 8 };

test('deterministic sources; every (dtype, shape, vec) differs', () => {
  const seen = new Map<string, string>();
  for (const dtype of DTYPES) {
    for (const shape of ['warp', 'block'] as const) {
      for (const vec of [1, WIDTH[dtype]]) {
        const key = `${dtype}/${shape}/v${vec}`;
        const g = softmaxSource({ dtype, shape, vec });
        assert.equal(softmaxSource({ dtype, shape, vec }).source, g.source, `${key} is not deterministic`);
        for (const [k2, s2] of seen)
          assert.notEqual(g.source, s2, `${key} generated the same source as ${k2}`);
        assertNvrtcSafe(key, g.source);
        seen.set(key, g.source);
      }
    }
  }
  assert.equal(seen.size, 12);
  assert.throws(() => softmaxSource({ dtype: 'float16', shape: 'warp', vec: 4 }), RangeError);
  const g = softmaxSource({ dtype: 'float32', shape: 'block', vec: 4 });
  assert.equal(g.name, 'cuop_softmax_f32_block_v4');
  assert.deepEqual(g.signature, ['ptr', 'ptr', 'i64', 'i64']);
  // Numerics: accurate expf (no fast-math intrinsic), -inf guarded, row max subtracted.
  assert.doesNotMatch(g.source, /__expf/);
  assert.match(g.source, /x != CUOP_NEG_INF/);
  assert.match(g.source, /expf\(cuop_to_f32\(p\[i\]\) - m\) \* inv/);
});

test(
  'generated sources compile with nvcc for sm_90 and sm_80',
  { skip: nvccMissing, timeout: 120_000 },
  async () => {
    const units = [
      { label: 'f32 warp v4', source: softmaxSource({ dtype: 'float32', shape: 'warp', vec: 4 }).source },
      { label: 'f16 block v8', source: softmaxSource({ dtype: 'float16', shape: 'block', vec: 8 }).source },
      { label: 'bf16 warp v1', source: softmaxSource({ dtype: 'bfloat16', shape: 'warp', vec: 1 }).source },
      { label: 'f32 block v1', source: softmaxSource({ dtype: 'float32', shape: 'block', vec: 1 }).source },
    ];
    const failures = await compileAll(units, ['sm_90', 'sm_80']);
    assert.deepEqual(failures, [], failures.join('\n\n'));
  },
);

test('validation raises ShapeError before any kernel is requested', async () => {
  const s = new Softmax();
  const x = fake([4, 6]);
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['rank 0', () => s.forward([fake([])], [fake([])], { jit: noJit }), /no last axis/],
    [
      'output shape',
      () => s.forward([x], [fake([4])], { jit: noJit }),
      /output is float32\[4\]; it must match the input float32\[4,6\]/,
    ],
    [
      'output dtype',
      () => s.forward([x], [fake([4, 6], 'float16')], { jit: noJit }),
      /output is float16\[4,6\]/,
    ],
    ['in place', () => s.forward([x], [x], { jit: noJit }), /must not be the input/],
    [
      'non-contiguous input',
      () => s.forward([fake([4, 6], 'float32', { strides: [1, 4] })], [x], { jit: noJit }),
      /not contiguous/,
    ],
    [
      'non-contiguous output',
      () => s.forward([x], [fake([4, 6], 'float32', { strides: [1, 4] })], { jit: noJit }),
      /output .*not contiguous/,
    ],
    ['two inputs', () => s.forward([x, x], [x], { jit: noJit }), /expected 1 input tensor, got 2/],
    ['softmax() of a scalar', () => softmax(fake([], 'bfloat16'), { jit: noJit }), /rank 0/],
  ];
  for (const [label, run, message] of cases) {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof ShapeError, `${label}: expected ShapeError, got ${String(e)}`);
      assert.match(e.message, message, label);
      return true;
    });
  }
});

test('launch plan (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  await new Softmax().forward([fake([129, 257])], [fake([129, 257])], { jit });
  await new Softmax().forward([fake([1, 100_000], 'bfloat16')], [fake([1, 100_000], 'bfloat16')], { jit });
  await new Softmax().forward([fake([2, 64], 'float16')], [fake([2, 64], 'float16', { ptr: 4104n })], {
    jit,
  });
  await new Softmax().forward([fake([3, 0])], [fake([3, 0])], { jit }); // empty rows: no launch
  const y = await softmax(fake([5, 2, 8]), { jit });
  assert.deepEqual(y.shape, [5, 2, 8]);

  assert.equal(launches.length, 4);
  const [a, b, c, d] = launches as [Launch, Launch, Launch, Launch];
  assert.equal(a.spec.name, 'cuop_softmax_f32_warp_v1');
  assert.deepEqual([a.config.grid, a.config.block], [17, 256]);
  assert.deepEqual(a.args.slice(2), [
    { type: 'i64', value: 129 },
    { type: 'i64', value: 257 },
  ]);
  assert.equal(b.spec.name, 'cuop_softmax_bf16_block_v8');
  assert.deepEqual([b.config.grid, b.config.block], [1, 1024]);
  assert.equal(c.spec.name, 'cuop_softmax_f16_warp_v1', 'unaligned output pointer → scalar accesses');
  assert.equal(d.spec.name, 'cuop_softmax_f32_warp_v4');
  assert.deepEqual(d.args.slice(2), [
    { type: 'i64', value: 10 },
    { type: 'i64', value: 8 },
  ]);
});
