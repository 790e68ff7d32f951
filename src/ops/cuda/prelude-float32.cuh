//# float32 storage (prelude.cuh {{DTYPE}}).
typedef float T;
__device__ __forceinline__ float cuop_to_f32(float v) { return v; }
__device__ __forceinline__ float cuop_from_f32(float v) { return v; }
