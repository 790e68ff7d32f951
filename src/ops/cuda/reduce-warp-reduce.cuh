//# Combine v across the 32 lanes of a warp (every lane gets the result).
//#   {{COMBINE}}   the reduction of v and its partner lane's __shfl_xor_sync(0xffffffffu, v, o)
__device__ __forceinline__ float cuop_warp_reduce(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = {{COMBINE}};
  return v;
}
