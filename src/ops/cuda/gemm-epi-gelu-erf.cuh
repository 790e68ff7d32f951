//# Exact-form GELU, x·Φ(x), for GEMM epilogues. There it runs once per output element while the tensor cores wait,
//# so instruction count is time: erfcf costs ~60 instructions, this ~17. Φ(x) from erfc(z), z = |x|/√2, as
//# t·2^(P(t) − z²·log2 e) with t = 1/(1 + z/2) (Numerical Recipes' erfcc, relative error < 1.2e-7 for every z ≥ 0;
//# the coefficients below are its own times log2 e). Emulated in float against a float64 erf (test/ops/gemm-epi-math.test.ts): at most
//# 3.8e-7 absolute and 2.7e-6 relative error on x in [-12, 12]. Negative x uses erfc directly (no 1 + erf cancel).
__device__ __forceinline__ float cuop_gelu_erf(float x) {
  const float z = fabsf(x) * 0.7071067811865476f;
  const float t = __fdividef(1.0f, fmaf(0.5f, z, 1.0f));
  float p = 0.246517301f;
  p = fmaf(p, t, -1.18611491f);
  p = fmaf(p, t, 2.14747453f);
  p = fmaf(p, t, -1.63775313f);
  p = fmaf(p, t, 0.402321577f);
  p = fmaf(p, t, -0.268756866f);
  p = fmaf(p, t, 0.139630049f);
  p = fmaf(p, t, 0.539700627f);
  p = fmaf(p, t, 1.44272923f);
  p = fmaf(p, t, -1.82574821f);
  float e;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(fmaf(-z * 1.4426950408889634f, z, p)));
  const float erfcz = t * e;
  return x * (x >= 0.0f ? fmaf(-0.5f, erfcz, 1.0f) : 0.5f * erfcz);
}
