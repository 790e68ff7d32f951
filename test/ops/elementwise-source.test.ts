// CPU tests of the elementwise source generator and operator front end: no GPU, no driver.
// Validation and launch planning run on real Tensor objects over the minimal fake DeviceBuffer/Device of
// ./helpers.ts, with a fake KernelProvider that records the requested spec and the launch instead of touching a GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  add,
  Add,
  Elementwise,
  elementwiseSource,
  ew,
  Gelu,
  lowerExpression,
  relu,
  Tensor,
  vectorWidth,
} from '../../src/ops/index.js';
import {
  assertCompiles,
  assertNewSpecialization,
  assertShapeErrors,
  DTYPES,
  fake,
  noJit,
  nvccMissing,
  recordingJit,
  type Launch,
} from './helpers.js';

const x = ew.input(0);
const y = ew.input(1);

test('same expression → identical source; scalars are runtime arguments', () => {
  const a = elementwiseSource({ expr: x.mul(y).add(1.5).gelu(), dtype: 'float16', vec: 8 });
  const b = elementwiseSource({
    expr: ew.gelu(ew.add(ew.mul(ew.input(0), ew.input(1)), 1.5)),
    dtype: 'float16',
    vec: 8,
  });
  assert.equal(a.source, b.source);
  assert.equal(a.name, b.name);
  assert.equal(a.lowered.text, 'gelu(add(mul(x0,x1),s0))');
  const c = elementwiseSource({ expr: x.mul(y).add(-7.25).gelu(), dtype: 'float16', vec: 8 });
  assert.equal(c.source, a.source, 'a different scalar value must not change the source');
  assert.deepEqual(a.lowered.scalars, [1.5]);
  assert.deepEqual(c.lowered.scalars, [-7.25]);
  assert.deepEqual(a.signature, ['ptr', 'ptr', 'ptr', 'f32', 'i64']);
  assert.match(a.source, /float s0, long long n\)/);
});

test('specializations differ by expression, dtype and vector width', () => {
  const sources = new Map<string, string>();
  const exprs = {
    add: x.add(y),
    mul: x.mul(y),
    relu: x.relu(),
    gelu: x.gelu(),
    geluErf: x.geluErf(),
    add1: x.add(1),
  };
  for (const [en, e] of Object.entries(exprs)) {
    for (const dtype of DTYPES) {
      for (const vec of [1, vectorWidth(dtype)]) {
        const key = `${en}/${dtype}/v${vec}`;
        assertNewSpecialization(sources, key, elementwiseSource({ expr: e, dtype, vec }).source);
      }
    }
  }
  assert.equal(sources.size, 6 * 3 * 2);
  assert.deepEqual(
    DTYPES.map((d) => vectorWidth(d)),
    [4, 8, 8],
  );
});

test('lowering: scalar numbering, reuse, arity', () => {
  const a = x.mul(y);
  const l = lowerExpression(a.add(a));
  assert.equal(l.body.filter((s) => s.includes('*')).length, 1, `x0*x1 computed once:\n${l.body.join('\n')}`);
  // Structurally equal sub-expressions built separately are also computed once.
  const l2 = lowerExpression(x.mul(y).add(x.mul(y)));
  assert.deepEqual(l2.body, l.body);
  const l3 = lowerExpression(x.add(1).mul(x.add(2)));
  assert.equal(l3.text, 'mul(add(x0,s0),add(x0,s1))');
  assert.deepEqual(l3.scalars, [1, 2]);
  const l4 = lowerExpression(ew.input(2).relu());
  assert.equal(l4.arity, 3);
  assert.deepEqual(l4.usedInputs, [2]);
  assert.throws(() => lowerExpression(ew.scalar(3).add(1)), /reads no input/);
  assert.throws(() => ew.input(-1), RangeError);
  assert.throws(() => elementwiseSource({ expr: x, dtype: 'float32', vec: 8 }), RangeError);
  assert.equal(String(x.sub(y).div(2).maximum(0).neg()), 'neg(maximum(div(sub(x0,x1),s0),s1))');
});

test('gelu flavours: tanh approximation by default, erf on request', () => {
  // tanh form as x·σ(2u) (= 0.5·x·(1 + tanh u)); erf form through erfc, both free of cancellation for x < 0
  assert.match(
    elementwiseSource({ expr: x.gelu(), dtype: 'float32', vec: 4 }).source,
    /cuop_gelu_tanh[\s\S]*expf\(/,
  );
  assert.match(elementwiseSource({ expr: x.geluErf(), dtype: 'float32', vec: 4 }).source, /erfcf\(/);
  assert.equal(new Gelu().lowered.text, 'gelu(x0)');
  assert.equal(new Gelu({ approximate: 'none' }).lowered.text, 'geluErf(x0)');
});

test(
  'generated sources compile with nvcc for sm_90 and sm_80',
  { skip: nvccMissing, timeout: 120_000 },
  async () => {
    const fused = x.mul(y).add(1.5).gelu().sub(ew.input(2).sigmoid()).silu();
    const units = [
      { label: 'fused f32 v4', source: elementwiseSource({ expr: fused, dtype: 'float32', vec: 4 }).source },
      { label: 'fused f16 v8', source: elementwiseSource({ expr: fused, dtype: 'float16', vec: 8 }).source },
      {
        label: 'geluErf bf16 v8',
        source: elementwiseSource({ expr: x.geluErf().exp().tanh(), dtype: 'bfloat16', vec: 8 }).source,
      },
      {
        label: 'relu/min/abs bf16 v1',
        source: elementwiseSource({ expr: x.relu().minimum(y).abs().neg(), dtype: 'bfloat16', vec: 1 })
          .source,
      },
    ];
    await assertCompiles(units, 'cuop-ew-');
  },
);

test('validation raises ShapeError before any kernel is requested', async () => {
  const op = new Add();
  const a = fake([3, 5]);
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    [
      'too few inputs',
      () => op.forward([a], [fake([3, 5])], { jit: noJit }),
      /expected 2 input tensors, got 1/,
    ],
    [
      'shape mismatch',
      () => op.forward([a, fake([5, 3])], [fake([3, 5])], { jit: noJit }),
      /same shape.*scalars broadcast/,
    ],
    [
      'dtype mismatch',
      () => op.forward([a, fake([3, 5], 'float16')], [fake([3, 5])], { jit: noJit }),
      /dtypes must match/,
    ],
    [
      'non-contiguous',
      () => op.forward([a, fake([3, 5], 'float32', { strides: [1, 3] })], [fake([3, 5])], { jit: noJit }),
      /not contiguous/,
    ],
    ['output shape', () => op.forward([a, a], [fake([15])], { jit: noJit }), /output is float32\[15\]/],
    [
      'output dtype',
      () => op.forward([a, a], [fake([3, 5], 'bfloat16')], { jit: noJit }),
      /output is bfloat16\[3,5\]/,
    ],
    ['two outputs', () => op.forward([a, a], [a, a], { jit: noJit }), /expected 1 output tensor, got 2/],
    ['not a tensor', () => op.forward([a, {} as Tensor], [a], { jit: noJit }), /input 1 is not a Tensor/],
    ['add(number, number)', () => add(1, 2, { jit: noJit }), /at least one operand must be a Tensor/],
    [
      'relu non-contiguous',
      () => relu(fake([4, 4], 'float16', { strides: [1, 4] }), { jit: noJit }),
      /not contiguous/,
    ],
  ];
  await assertShapeErrors(cases);
});

test('launch plan: vector width, grid, arguments (fake provider)', async () => {
  const { jit, launches } = recordingJit();
  const op = new Elementwise(x.mul(y).add(0.5));
  await op.forward([fake([1001], 'float16'), fake([1001], 'float16')], [fake([1001], 'float16')], { jit });
  // Unaligned pointer → scalar loop.
  await op.forward(
    [fake([1001], 'float16'), fake([1001], 'float16', { ptr: 4098n })],
    [fake([1001], 'float16')],
    { jit },
  );
  // vectorize: false → scalar loop.
  await new Elementwise(x.mul(y).add(0.5), { vectorize: false }).forward(
    [fake([40], 'float32'), fake([40], 'float32')],
    [fake([40], 'float32')],
    { jit },
  );
  // Empty tensor: nothing launched.
  await op.forward([fake([0, 3]), fake([0, 3])], [fake([0, 3])], { jit });
  // Big: grid capped at 32 blocks per SM.
  await new Add().forward([fake([1 << 26]), fake([1 << 26])], [fake([1 << 26])], { jit });
  // Convenience function: allocates the output (fake device), scalar first.
  const out = await add(2, fake([7, 3]), { jit });
  assert.deepEqual(out.shape, [7, 3]);

  assert.equal(launches.length, 5);
  const [v8, v1, f32v1, big, conv] = launches as [Launch, Launch, Launch, Launch, Launch];
  assert.equal(v8.spec.name, 'cuop_ew_f16_v8');
  assert.equal(v8.config.grid, 1); // ceil(ceil(1001 / 8) / 256)
  assert.equal(v8.config.block, 256);
  assert.equal(v8.args.length, 5);
  assert.deepEqual(v8.args[3], { type: 'f32', value: 0.5 });
  assert.deepEqual(v8.args[4], { type: 'i64', value: 1001 });
  assert.equal(v1.spec.name, 'cuop_ew_f16_v1');
  assert.equal(v1.config.grid, 4); // ceil(1001 / 256)
  assert.equal(f32v1.spec.name, 'cuop_ew_f32_v1');
  assert.equal(big.config.grid, 132 * 32);
  assert.equal(big.spec.name, 'cuop_ew_f32_v4');
  assert.equal(conv.spec.source.includes('float t0 = s0 + x0;'), true, conv.spec.source);
  // The same spec object is handed out again (so the JIT's per-spec memo hits).
  assert.equal(v8.spec, op.spec('float16', 8));
});
