//# float16 element type of gemm-mma.cu ({{DTYPE_HEADER}}): storage T, pairs T2, the mma operand type, conversions.
#include <cuda_fp16.h>
typedef __half T;
typedef __half2 T2;
#define MMA_TYPE "f16"
__device__ __forceinline__ float to_f32(T x) { return __half2float(x); }
__device__ __forceinline__ T from_f32(float x) { return __float2half_rn(x); }
__device__ __forceinline__ T2 pack2(float a, float b) { return __floats2half2_rn(a, b); }
