//# tanh-approximate GELU for GEMM epilogues: x / (1 + e^(-2u)), u = √(2/π)·(x + 0.044715·x³) (the same form as
//# ew-gelu-tanh.cuh, without its cancellation), with the hardware exp and reciprocal.
__device__ __forceinline__ float cuop_gelu_tanh(float x) {
  const float k0 = 0.7978845608028654f, k1 = 0.044715f; // sqrt(2/pi)
  return __fdividef(x, 1.0f + __expf(-2.0f * k0 * (x + k1 * x * x * x)));
}
