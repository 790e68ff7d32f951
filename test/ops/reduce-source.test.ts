// CPU tests of the reduction source generator and operator front end: no GPU, no driver.
// Validation and launch planning run on real Tensor objects over the minimal fake DeviceBuffer/Device of
// ./helpers.ts, with a fake KernelProvider that records the requested spec and the launch instead of touching a GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { max, Reduce, reduceSource, rowKernelShape, Softmax, sum } from '../../src/ops/index.js';
import type { Device, Stream } from '../../src/runtime/index.js';
import { reduceSplitSource, rowBlockThreads } from '../../src/ops/reduce-source.js';
import { SPLIT_MIN_CHUNK, SPLIT_MIN_ROW, splitPlan, splitScratch } from '../../src/ops/reduce.js';
import {
  assertCompiles,
  assertNewSpecialization,
  assertShapeError,
  assertShapeErrors,
  DTYPES,
  fake,
  noJit,
  nvccMissing,
  recordingJit,
  WIDTH,
  type Launch,
} from './helpers.js';

test('deterministic sources; every (op, dtype, shape, vec) differs', () => {
  const seen = new Map<string, string>();
  for (const op of ['sum', 'max'] as const) {
    for (const dtype of DTYPES) {
      for (const shape of ['warp', 'block'] as const) {
        for (const vec of [1, WIDTH[dtype]]) {
          const key = `${op}/${dtype}/${shape}/v${vec}`;
          const g = reduceSource({ op, dtype, shape, vec });
          assertNewSpecialization(seen, key, g.source, reduceSource({ op, dtype, shape, vec }).source);
          assert.equal(
            g.name,
            `cuop_reduce_${op}_${{ float32: 'f32', float16: 'f16', bfloat16: 'bf16' }[dtype]}_${shape}_v${vec}`,
          );
        }
      }
    }
  }
  assert.equal(seen.size, 24);
  assert.throws(() => reduceSource({ op: 'sum', dtype: 'float32', shape: 'warp', vec: 8 }), RangeError);
  const g = reduceSource({ op: 'max', dtype: 'float16', shape: 'warp', vec: 8 });
  assert.match(g.source, /float acc = CUOP_NEG_INF;/);
  assert.match(g.source, /__shfl_xor_sync/);
  assert.deepEqual(g.signature, ['ptr', 'ptr', 'i64', 'i64']);
});

test('kernel shape and block size by row length', () => {
  assert.equal(rowKernelShape(1), 'warp');
  assert.equal(rowKernelShape(1024), 'warp');
  assert.equal(rowKernelShape(1025), 'block');
  assert.equal(rowBlockThreads(1025, 1), 512);
  assert.equal(rowBlockThreads(100_000, 4), 1024);
  assert.equal(rowBlockThreads(2048, 8), 128);
  for (const n of [1025, 4096, 33_333, 100_000, 1 << 24]) {
    for (const vec of [1, 4, 8]) {
      const t = rowBlockThreads(n, vec);
      assert.ok(t % 32 === 0 && t >= 128 && t <= 1024, `n=${n} vec=${vec}: ${t} threads`);
    }
  }
});

test(
  'generated sources compile with nvcc for sm_90 and sm_80',
  { skip: nvccMissing, timeout: 120_000 },
  async () => {
    const units = [
      {
        label: 'split pieces sum bf16 v8',
        source: reduceSplitSource({ op: 'sum', dtype: 'bfloat16', vec: 8 }).pieces.source,
      },
      {
        label: 'split combine max f16',
        source: reduceSplitSource({ op: 'max', dtype: 'float16', vec: 1 }).combine.source,
      },
      {
        label: 'sum f32 block v4',
        source: reduceSource({ op: 'sum', dtype: 'float32', shape: 'block', vec: 4 }).source,
      },
      {
        label: 'max f16 warp v8',
        source: reduceSource({ op: 'max', dtype: 'float16', shape: 'warp', vec: 8 }).source,
      },
      {
        label: 'sum bf16 block v1',
        source: reduceSource({ op: 'sum', dtype: 'bfloat16', shape: 'block', vec: 1 }).source,
      },
      {
        label: 'max f32 warp v1',
        source: reduceSource({ op: 'max', dtype: 'float32', shape: 'warp', vec: 1 }).source,
      },
    ];
    await assertCompiles(units, 'cuop-reduce-');
  },
);

test('validation raises ShapeError before any kernel is requested', async () => {
  const r = new Reduce('sum');
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['rank 0', () => r.forward([fake([])], [fake([])], { jit: noJit }), /no last axis/],
    [
      'output keeps the last axis',
      () => r.forward([fake([4, 6])], [fake([4, 6])], { jit: noJit }),
      /must be float32\[4\]/,
    ],
    [
      'output dtype',
      () => r.forward([fake([4, 6])], [fake([4], 'float16')], { jit: noJit }),
      /output is float16\[4\]/,
    ],
    [
      'non-contiguous input',
      () => r.forward([fake([4, 6], 'float32', { strides: [1, 4] })], [fake([4])], { jit: noJit }),
      /not contiguous/,
    ],
    [
      'two inputs',
      () => r.forward([fake([4]), fake([4])], [fake([])], { jit: noJit }),
      /expected 1 input tensor, got 2/,
    ],
    ['no output', () => r.forward([fake([4])], [], { jit: noJit }), /expected 1 output tensor, got 0/],
    [
      'sum() of non-contiguous',
      () => sum(fake([2, 3], 'bfloat16', { strides: [1, 2] }), { jit: noJit }),
      /not contiguous/,
    ],
    ['max() of a scalar', () => max(fake([], 'float16'), { jit: noJit }), /rank 0/],
  ];
  await assertShapeErrors(cases);
  assert.throws(() => new Reduce('mean' as 'sum'), TypeError);
});

test('launch plan: warp per row for short rows, block per row for long ones (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  await new Reduce('sum').forward([fake([129, 256], 'float16')], [fake([129], 'float16')], { jit });
  await new Reduce('max').forward([fake([7, 1])], [fake([7])], { jit });
  await new Reduce('sum').forward([fake([1, 60_000])], [fake([1])], { jit }); // below SPLIT_MIN_ROW
  await new Reduce('sum').forward([fake([3, 1000], 'float32', { ptr: 4100n })], [fake([3])], { jit });
  await new Reduce('max').forward([fake([0, 5])], [fake([0])], { jit }); // no rows: no launch
  const out = await max(fake([2, 3, 5], 'bfloat16'), { jit }); // allocates [2, 3]
  assert.deepEqual(out.shape, [2, 3]);
  const r1 = await sum(fake([9]), { jit }); // rank 1 → rank 0
  assert.deepEqual(r1.shape, []);

  assert.equal(launches.length, 6);
  const [a, b, c, d, e, f] = launches as [Launch, Launch, Launch, Launch, Launch, Launch];
  assert.equal(a.spec.name, 'cuop_reduce_sum_f16_warp_v8');
  assert.deepEqual([a.config.grid, a.config.block], [17, 256]); // ceil(129 / 8) blocks of 8 warps
  assert.deepEqual(a.args.slice(2), [
    { type: 'i64', value: 129 },
    { type: 'i64', value: 256 },
  ]);
  assert.equal(b.spec.name, 'cuop_reduce_max_f32_warp_v1');
  assert.equal(b.config.grid, 1);
  assert.equal(c.spec.name, 'cuop_reduce_sum_f32_block_v4');
  assert.deepEqual([c.config.grid, c.config.block], [1, 1024]);
  assert.equal(d.spec.name, 'cuop_reduce_sum_f32_warp_v1', 'unaligned base pointer → scalar loads');
  assert.equal(e.spec.name, 'cuop_reduce_max_bf16_warp_v1'); // 5 % 8 ≠ 0
  assert.equal(f.spec.name, 'cuop_reduce_sum_f32_warp_v1'); // 9 % 4 ≠ 0
});

test('split reductions: two kernels per (op, dtype, vec), deterministic and distinct', () => {
  const seen = new Map<string, string>();
  for (const op of ['sum', 'max'] as const) {
    for (const dtype of DTYPES) {
      for (const vec of [1, WIDTH[dtype]]) {
        const g = reduceSplitSource({ op, dtype, vec });
        const again = reduceSplitSource({ op, dtype, vec });
        assertNewSpecialization(seen, `${op}/${dtype}/v${vec}/pieces`, g.pieces.source, again.pieces.source);
        if (vec === 1) {
          assertNewSpecialization(seen, `${op}/${dtype}/combine`, g.combine.source, again.combine.source);
        }
        assert.deepEqual(g.pieces.signature, ['ptr', 'ptr', 'i64', 'i64', 'i64']);
        assert.deepEqual(g.combine.signature, ['ptr', 'ptr', 'i64', 'i64']);
        assert.match(g.pieces.source, /pieces\[row \* gridDim\.x \+ blockIdx\.x\] = acc;/);
      }
    }
  }
  assert.equal(seen.size, 18); // 12 pass-1 kernels, 6 combines
  assert.throws(() => reduceSplitSource({ op: 'sum', dtype: 'float16', vec: 4 }), RangeError);
});

test('split plan: only few long rows; aligned chunks that cover the row; scratch bound holds', () => {
  const sm = 132;
  assert.equal(splitPlan(sm, 1 << 24, 4, sm), undefined, 'as many rows as SMs: one block per row');
  assert.equal(splitPlan(1, SPLIT_MIN_ROW - 1, 4, sm), undefined, 'short rows');
  assert.deepEqual(splitPlan(100, SPLIT_MIN_ROW, 1, sm), { pieces: 3, chunk: 21_856 }, 'two blocks per SM');
  assert.deepEqual(splitPlan(1, 100_000_000, 4, sm), { pieces: 264, chunk: 378_880 });
  let seed = 7;
  const rand = (k: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % k;
  };
  for (let i = 0; i < 2000; i++) {
    const rows = 1 + rand(sm - 1);
    const vec = [1, 4, 8][rand(3)] as number;
    const n = SPLIT_MIN_ROW + rand(1 << 26);
    const p = splitPlan(rows, n, vec, sm);
    assert.ok(p, `rows=${rows} n=${n}: fewer rows than SMs and long rows are split`);
    const where = `rows=${rows} n=${n} vec=${vec}: ${JSON.stringify(p)}`;
    assert.equal(p.chunk % (32 * vec), 0, where);
    assert.ok(p.pieces >= 2 && p.pieces * p.chunk >= n && (p.pieces - 1) * p.chunk < n, where);
    assert.ok(rows * p.pieces < 3 * sm, where);
    assert.ok(p.chunk >= SPLIT_MIN_CHUNK, where);
  }
});

test('launch plan: few long rows go through the split kernels on one scratch buffer (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  await new Reduce('max').forward([fake([2, 1_000_000], 'float16')], [fake([2], 'float16')], { jit });
  assert.equal(launches.length, 2);
  const [p1, p2] = launches as [Launch, Launch];
  const plan = splitPlan(2, 1_000_000, 8, 132)!;
  assert.equal(p1.spec.name, 'cuop_reduce_max_f16_pieces_v8');
  assert.deepEqual(p1.config.grid, [plan.pieces, 2]);
  assert.equal(p1.config.block, rowBlockThreads(plan.chunk, 8));
  assert.deepEqual(p1.args.slice(2), [
    { type: 'i64', value: 2 },
    { type: 'i64', value: 1_000_000 },
    { type: 'i64', value: plan.chunk },
  ]);
  assert.equal(p2.spec.name, 'cuop_reduce_max_f16_combine');
  assert.deepEqual([p2.config.grid, p2.config.block], [1, 256]);
  assert.equal(p2.args[1], p1.args[0], 'pass 2 reads what pass 1 wrote');
  assert.deepEqual(p2.args.slice(2), [
    { type: 'i64', value: 2 },
    { type: 'i64', value: plan.pieces },
  ]);
});

test('a stream of another device is refused before any kernel is requested (reduce and softmax)', async () => {
  const other = { device: {} } as unknown as Stream;
  await assertShapeError(
    () => new Reduce('sum').forward([fake([4, 8])], [fake([4])], { jit: noJit, stream: other }),
    /stream belongs to another device/,
  );
  await assertShapeError(
    () =>
      new Softmax().forward([fake([4, 8])], [fake([4, 8], 'float32', { ptr: 8192n })], {
        jit: noJit,
        stream: other,
      }),
    /stream belongs to another device/,
  );
});

test("split scratch: one buffer per stream, reused on that stream, the device's own for the default stream", () => {
  let allocations = 0;
  const device = {
    multiprocessorCount: 132,
    generation: 0,
    alloc: (bytes: number) => {
      allocations++;
      return {
        byteLength: bytes,
        device,
        generation: 0,
        disposed: false,
        devicePtr: BigInt(allocations) << 12n,
      };
    },
  } as unknown as Device;
  const s1 = { device } as unknown as Stream;
  const s2 = { device } as unknown as Stream;
  const a = splitScratch(device, s1);
  assert.equal(splitScratch(device, s1), a, 'the same stream reuses its buffer (its work runs in order)');
  const b = splitScratch(device, s2);
  assert.notEqual(b, a, 'another stream may run at the same time: its own buffer');
  const d = splitScratch(device, undefined);
  assert.ok(d !== a && d !== b);
  assert.equal(splitScratch(device, undefined), d);
  assert.equal(a.byteLength, 8 * 132 * 4, 'room for two floats per piece of the largest plan');
  assert.equal(allocations, 3);
});
