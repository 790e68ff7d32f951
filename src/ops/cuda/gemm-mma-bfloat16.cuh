//# bfloat16 element type of gemm-mma.cu ({{DTYPE_HEADER}}): storage T, pairs T2, the mma operand type, conversions.
#include <cuda_bf16.h>
typedef __nv_bfloat16 T;
typedef __nv_bfloat162 T2;
#define MMA_TYPE "bf16"
__device__ __forceinline__ float to_f32(T x) { return __bfloat162float(x); }
__device__ __forceinline__ T from_f32(float x) { return __float2bfloat16_rn(x); }
__device__ __forceinline__ T2 pack2(float a, float b) { return __floats2bfloat162_rn(a, b); }
