//# Exact GELU, 0.5·x·(1 + erf(x/√2)), for expressions that use it. Written without 1 + erf(z), which cancels for
//# negative inputs: 1 + erf(-z) = erfc(z).
__device__ __forceinline__ float cuop_gelu_erf(float x) {
  return 0.5f * x * erfcf(-x * 0.7071067811865476f);
}
