// GPU tests of the elementwise operators against float64 CPU references built from dtype-rounded random inputs.
// Outputs live in buffers with a guard zone past the end; the whole buffer is poisoned with NaN bits before each run
// (float32: words 0x7fc00000; float16/bfloat16: bytes 0xff, i.e. 0xffff, a NaN in both formats and also right for
// buffers of an odd number of halves) and afterwards every element is checked, and the guard must still be poison.
// Kernels come from the default (global) JIT, as for a user who passes no `jit`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  add,
  Add,
  Elementwise,
  ew,
  gelu,
  Gelu,
  mul,
  Mul,
  relu,
  Relu,
  ShapeError,
  Tensor,
  vectorWidth,
  type DType,
  type EwExpr,
} from '../../src/ops/index.js';
import { Device } from '../../src/runtime/index.js';
import { gpuSkipReason } from '../helpers.js';
import { check, count, DTYPES, newSeed, poisonedOutput, randomValues, TOL } from './helpers.js';

const skip = gpuSkipReason;
const SHAPES: number[][] = [[1], [31], [33], [1000], [100_003], [7, 1], [1, 100_000], [129, 257]];

/** Random values scaled to [-scale, scale), rounded to the dtype; the tensor and the rounded values. */
function randomInput(device: Device, shape: number[], dtype: DType, seed: number, scale = 3) {
  const rounded = randomValues(shape, dtype, seed, 0, scale);
  return { tensor: Tensor.fromArray(device, rounded, shape, dtype), values: rounded };
}

// ---- float64 references ----
function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let k = x; // continued fraction of erfc
  for (let i = 60; i >= 1; i--) k = x + i / 2 / k;
  return 1 - Math.exp(-x * x) / (Math.sqrt(Math.PI) * k);
}
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const geluErf = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface Case {
  readonly label: string;
  readonly op: () => Elementwise;
  readonly ref: (x: readonly number[]) => number;
}
const x0 = ew.input(0);
const x1 = ew.input(1);
const x2 = ew.input(2);
const CASES: Case[] = [
  { label: 'Add', op: () => new Add(), ref: ([a, b]) => a! + b! },
  { label: 'Mul', op: () => new Mul(), ref: ([a, b]) => a! * b! },
  { label: 'Relu', op: () => new Relu(), ref: ([a]) => Math.max(a!, 0) },
  { label: 'Gelu(tanh)', op: () => new Gelu(), ref: ([a]) => geluTanh(a!) },
  { label: 'Gelu(erf)', op: () => new Gelu({ approximate: 'none' }), ref: ([a]) => geluErf(a!) },
  {
    label: 'gelu(x0*x1+1.5)',
    op: () => new Elementwise(x0.mul(x1).add(1.5).gelu()),
    ref: ([a, b]) => geluTanh(a! * b! + 1.5),
  },
  {
    label: 'maximum(x0-sigmoid(x2), -x1)*0.5 (3 inputs)',
    op: () => new Elementwise(x0.sub(x2.sigmoid()).maximum(x1.neg()).mul(0.5)),
    ref: ([a, b, c]) => Math.max(a! - sigmoid(c!), -b!) * 0.5,
  },
];

/** Run `op` over fresh inputs of `shape` and check every element. */
async function runCase(device: Device, c: Case, op: Elementwise, shape: number[], dtype: DType, tag = '') {
  const seed = newSeed();
  const label = `${c.label}${tag} ${dtype}[${shape}] seed=${seed}`;
  const inputs = Array.from({ length: op.arity }, (_, i) =>
    randomInput(device, shape, dtype, seed + i * 7919),
  );
  const out = poisonedOutput(device, shape, dtype);
  try {
    await op.forward(
      inputs.map((i) => i.tensor),
      [out.tensor],
    );
    const n = count(shape);
    const ref = new Float64Array(n);
    const args = new Array<number>(inputs.length);
    for (let e = 0; e < n; e++) {
      for (let k = 0; k < inputs.length; k++) args[k] = inputs[k]!.values[e]!;
      ref[e] = c.ref(args);
    }
    check(label, out.read(), ref, TOL[dtype]);
  } finally {
    for (const i of inputs) i.tensor.dispose();
    out.tensor.dispose();
  }
}

test('elementwise ops and fused expressions, vectorized, every dtype and size', { skip }, async () => {
  const device = Device.get(0);
  for (const c of CASES) {
    const op = c.op();
    for (const dtype of DTYPES) for (const shape of SHAPES) await runCase(device, c, op, shape, dtype);
  }
});

test('scalar grid-stride path (vectorize: false)', { skip }, async () => {
  const device = Device.get(0);
  const c = CASES[5]!;
  const op = new Elementwise(x0.mul(x1).add(1.5).gelu(), { vectorize: false });
  assert.equal(op.spec('float16', 1).name, 'cuop_ew_f16_v1');
  for (const dtype of DTYPES)
    for (const shape of SHAPES) await runCase(device, c, op, shape, dtype, ' (scalar loop)');
});

test('convenience functions, runtime scalars, in place', { skip }, async () => {
  const device = Device.get(0);
  for (const dtype of DTYPES) {
    const seed = newSeed();
    const shape = [33, 31];
    const a = randomInput(device, shape, dtype, seed);
    const b = randomInput(device, shape, dtype, seed + 1);
    const tol = TOL[dtype];
    const at = (label: string, t: Tensor, ref: (i: number) => number) => {
      const r = Float64Array.from({ length: count(shape) }, (_, i) => ref(i));
      check(`${label} ${dtype} seed=${seed}`, { values: t.toArray(), guardHit: -1 }, r, tol);
      t.dispose();
    };
    const av = a.values;
    const bv = b.values;
    at('add(a, b)', await add(a.tensor, b.tensor), (i) => av[i]! + bv[i]!);
    at('mul(a, b)', await mul(a.tensor, b.tensor), (i) => av[i]! * bv[i]!);
    at('relu(a)', await relu(a.tensor), (i) => Math.max(av[i]!, 0));
    at('gelu(a)', await gelu(a.tensor), (i) => geluTanh(av[i]!));
    // Scalars are f32 runtime arguments: both values right, one compiled kernel (same spec).
    at('add(a, 1.5)', await add(a.tensor, 1.5), (i) => av[i]! + 1.5);
    at('add(-2.25, a)', await add(-2.25, a.tensor), (i) => -2.25 + av[i]!);
    const s1 = new Elementwise(x0.add(1.5)).spec(dtype, vectorWidth(dtype));
    const s2 = new Elementwise(x0.add(-7)).spec(dtype, vectorWidth(dtype));
    assert.equal(s1, s2);
    // In place: out = a * b written over a.
    await new Mul().forward([a.tensor, b.tensor], [a.tensor]);
    at('a *= b (in place)', a.tensor, (i) => av[i]! * bv[i]!);
    b.tensor.dispose();
  }
});

test('shape errors reach the caller before any launch', { skip }, async () => {
  const device = Device.get(0);
  const a = Tensor.empty(device, [4, 5]);
  const b = Tensor.empty(device, [5, 4]);
  try {
    await assert.rejects(add(a, b), ShapeError);
    await assert.rejects(new Add().forward([a, a], [b]), ShapeError);
    const expr: EwExpr = x0.add(x1);
    await assert.rejects(new Elementwise(expr).forward([a], [a]), ShapeError);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test(
  'gelu keeps float32 accuracy in its negative tail (no 1 + tanh / 1 + erf cancellation)',
  { skip },
  async () => {
    const device = Device.get(0);
    const seed = newSeed();
    const shape = [4099];
    // x in [-9, -2): the textbook forms lose ~3e-5 relative here in f32.
    const x = Tensor.fromArray(device, randomValues(shape, 'float32', seed, -5.5, 3.5), shape, 'float32');
    const xv = x.toArray();
    for (const [label, op, ref] of [
      ['gelu (tanh)', new Gelu(), geluTanh],
      ['gelu (erf)', new Gelu({ approximate: 'none' }), geluErf],
    ] as const) {
      const out = poisonedOutput(device, shape, 'float32');
      await op.forward([x], [out.tensor]);
      check(`${label} tail seed=${seed}`, out.read(), Float64Array.from(xv, ref), TOL.float32);
      out.tensor.dispose();
    }
    x.dispose();
  },
);
