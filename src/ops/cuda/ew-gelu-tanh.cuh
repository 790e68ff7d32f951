//# tanh-approximate GELU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), for expressions that use it. Written without
//# 1 + tanh(u), which cancels for negative inputs (at x = -3.4 the f32 result of the textbook form was off by 3e-5
//# relative): 0.5·(1 + tanh(u)) = 1 / (1 + e^(-2u)).
__device__ __forceinline__ float cuop_gelu_tanh(float x) {
  const float k0 = 0.7978845608028654f, k1 = 0.044715f;  // sqrt(2/pi)
  return x / (1.0f + expf(-2.0f * k0 * (x + k1 * x * x * x)));
}
