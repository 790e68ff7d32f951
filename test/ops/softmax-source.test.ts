// CPU tests of the softmax source generator and operator front end: no GPU, no driver.
// Validation and launch planning run on real Tensor objects over the minimal fake DeviceBuffer/Device of
// ./helpers.ts, with a fake KernelProvider that records the requested spec and the launch instead of touching a GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Softmax, softmax, softmaxSource } from '../../src/ops/index.js';
import { rowBlockThreads } from '../../src/ops/reduce-source.js';
import { splitPlan } from '../../src/ops/reduce.js';
import { softmaxSplitSource } from '../../src/ops/softmax-source.js';
import {
  assertCompiles,
  assertNewSpecialization,
  assertShapeErrors,
  DTYPES,
  fake,
  noJit,
  nvccMissing,
  recordingJit,
  WIDTH,
  type Launch,
} from './helpers.js';

test('deterministic sources; every (dtype, shape, vec) differs', () => {
  const seen = new Map<string, string>();
  for (const dtype of DTYPES) {
    for (const shape of ['warp', 'block'] as const) {
      for (const vec of [1, WIDTH[dtype]]) {
        const key = `${dtype}/${shape}/v${vec}`;
        const g = softmaxSource({ dtype, shape, vec });
        assertNewSpecialization(seen, key, g.source, softmaxSource({ dtype, shape, vec }).source);
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
      { label: 'split stats f16 v8', source: softmaxSplitSource({ dtype: 'float16', vec: 8 }).stats.source },
      {
        label: 'split normalize bf16 v1',
        source: softmaxSplitSource({ dtype: 'bfloat16', vec: 1 }).normalize.source,
      },
    ];
    await assertCompiles(units, 'cuop-softmax-');
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
  await assertShapeErrors(cases);
});

test('launch plan (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  await new Softmax().forward([fake([129, 257])], [fake([129, 257])], { jit });
  await new Softmax().forward([fake([1, 60_000], 'bfloat16')], [fake([1, 60_000], 'bfloat16')], { jit });
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

test('split softmax: two kernels per (dtype, vec), deterministic, distinct, same numerics', () => {
  const seen = new Map<string, string>();
  for (const dtype of DTYPES) {
    for (const vec of [1, WIDTH[dtype]]) {
      const g = softmaxSplitSource({ dtype, vec });
      const again = softmaxSplitSource({ dtype, vec });
      assertNewSpecialization(seen, `${dtype}/v${vec}/stats`, g.stats.source, again.stats.source);
      assertNewSpecialization(seen, `${dtype}/v${vec}/normalize`, g.normalize.source, again.normalize.source);
      assert.deepEqual(g.stats.signature, ['ptr', 'ptr', 'i64', 'i64', 'i64']);
      assert.deepEqual(g.normalize.signature, ['ptr', 'ptr', 'ptr', 'i64', 'i64', 'i64']);
      for (const src of [g.stats.source, g.normalize.source]) assert.doesNotMatch(src, /__expf/);
      assert.match(g.normalize.source, /cuop_online_merge\(m, s, st\[2 \* i\], st\[2 \* i \+ 1\]\)/);
    }
  }
  assert.equal(seen.size, 12);
  assert.throws(() => softmaxSplitSource({ dtype: 'float32', vec: 8 }), RangeError);
});

test('launch plan: few long rows go through stats + normalize on one scratch buffer (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  const shape = [3, 500_000];
  await new Softmax().forward([fake(shape)], [fake(shape, 'float32', { ptr: 1n << 29n })], { jit });
  assert.equal(launches.length, 2);
  const [a, b] = launches as [Launch, Launch];
  const plan = splitPlan(3, 500_000, 4, 132)!;
  assert.equal(a.spec.name, 'cuop_softmax_f32_stats_v4');
  assert.equal(b.spec.name, 'cuop_softmax_f32_normalize_v4');
  for (const l of [a, b]) {
    assert.deepEqual(l.config.grid, [plan.pieces, 3]);
    assert.equal(l.config.block, rowBlockThreads(plan.chunk, 4));
  }
  assert.equal(b.args[2], a.args[0], 'normalize reads the stats pass 1 wrote');
  assert.deepEqual(b.args.slice(3), [
    { type: 'i64', value: 3 },
    { type: 'i64', value: 500_000 },
    { type: 'i64', value: plan.chunk },
  ]);
});
