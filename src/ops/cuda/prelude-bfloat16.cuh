//# bfloat16 storage (prelude.cuh {{DTYPE}}): widened to f32 on load, rounded to nearest even on store.
#include <cuda_bf16.h>
typedef __nv_bfloat16 T;
__device__ __forceinline__ float cuop_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ __nv_bfloat16 cuop_from_f32(float v) { return __float2bfloat16_rn(v); }
