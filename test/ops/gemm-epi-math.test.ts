// The GEMM epilogue's cheap GELU (src/ops/cuda/gemm-epi-gelu-erf.cuh), emulated in float32 arithmetic (Math.fround
// after every operation, as the device rounds; ex2.approx and the fast reciprocal taken as correctly rounded) against
// a float64 erf. The coefficients are read from the .cuh itself, so a mistyped one fails here, not on a GPU.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CUH = fileURLToPath(new URL('../../../src/ops/cuda/gemm-epi-gelu-erf.cuh', import.meta.url));

/** erf to ~1e-13: the series for small |x|, the continued fraction of erfc for large. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
}
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** The .cuh's Horner coefficients, highest power first (the initial value, then each fmaf's addend). */
function coefficients(): number[] {
  const src = readFileSync(CUH, 'utf8');
  const first = /float p = (-?[\d.]+)f;/.exec(src);
  assert.ok(first, 'initial coefficient');
  const rest = [...src.matchAll(/p = fmaf\(p, t, (-?[\d.]+)f\);/g)].map((m) => Number(m[1]));
  return [Number(first[1]), ...rest];
}

function geluEmulated(x: number, c: readonly number[]): number {
  const f = Math.fround;
  x = f(x);
  const z = f(Math.abs(x) * f(0.7071067811865476));
  const t = f(1 / f(f(0.5 * z) + 1));
  let p = f(c[0] as number);
  for (const k of c.slice(1)) p = f(p * t + f(k));
  const e = f(2 ** f(f(-z * f(Math.LOG2E)) * z + p));
  const erfcz = f(t * e);
  return f(x * (x >= 0 ? f(1 - f(0.5 * erfcz)) : f(0.5 * erfcz)));
}

test('the epilogue GELU: ten coefficients, Numerical Recipes erfcc times log2 e', () => {
  const nr = [
    0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
    1.00002368, -1.26551223,
  ];
  const c = coefficients();
  assert.equal(c.length, 10);
  c.forEach((v, i) => {
    const want = (nr[i] as number) * Math.LOG2E;
    assert.ok(Math.abs(v - want) <= 2e-7 * Math.abs(want), `coefficient ${i}: ${v}, want ${want}`);
  });
});

test('the epilogue GELU is within 5e-7 absolute of float64 on [-12, 12], 5e-6 relative where |gelu| > 1e-6', () => {
  const c = coefficients();
  let worstAbs = 0;
  let worstRel = 0;
  for (let x = -12; x <= 12; x += 0.00071) {
    const want = gelu(Math.fround(x));
    const got = geluEmulated(x, c);
    const abs = Math.abs(got - want);
    worstAbs = Math.max(worstAbs, abs);
    if (Math.abs(want) > 1e-6) worstRel = Math.max(worstRel, abs / Math.abs(want));
  }
  assert.ok(worstAbs < 5e-7, `worst absolute error ${worstAbs}`);
  assert.ok(worstRel < 5e-6, `worst relative error ${worstRel}`);
  // The ends: large positive x is x itself, large negative x goes to (-)0, never NaN.
  assert.equal(geluEmulated(30, c), 30);
  assert.ok(Math.abs(geluEmulated(-30, c)) < 1e-30);
  assert.equal(geluEmulated(0, c), 0);
});
