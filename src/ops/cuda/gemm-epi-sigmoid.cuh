//# Logistic sigmoid for GEMM epilogues (silu, sigmoid): the hardware exp and reciprocal (a few instructions against
//# ~25 for expf and an IEEE division); for very negative x the denominator overflows and the result is 0.
__device__ __forceinline__ float cuop_sigmoid(float x) { return __fdividef(1.0f, 1.0f + __expf(-x)); }
