//# float16 storage (prelude.cuh {{DTYPE}}): widened to f32 on load, rounded to nearest even on store.
#include <cuda_fp16.h>
typedef __half T;
__device__ __forceinline__ float cuop_to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ __half cuop_from_f32(float v) { return __float2half_rn(v); }
