//# Logistic sigmoid, for expressions that use it (sigmoid, silu).
__device__ __forceinline__ float cuop_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
