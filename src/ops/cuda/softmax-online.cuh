//# The online (single-pass) softmax statistics shared by every softmax kernel: a running max m and a running sum s of
//# exp(x - m), rescaled when m grows; pairs merge through warp shuffles. -inf entries add nothing; a NaN entry makes
//# the sum NaN, and the merge keeps it NaN even against pieces of only -inf entries.
// Add one element to a running (max, sum of exp(x - max)).
__device__ __forceinline__ void cuop_online_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;  // m = -inf at first: expf(-inf) = 0
    m = x;
  } else if (x != CUOP_NEG_INF) {
    s += expf(x - m);  // a NaN x makes s NaN
  }
}
// Merge two running pairs.
__device__ __forceinline__ void cuop_online_merge(float& m, float& s, float m2, float s2) {
  const float mx = fmaxf(m, m2);
  if (mx == CUOP_NEG_INF) {  // no finite entry on either side: s and s2 are 0, or NaN from a NaN entry
    s += s2;
    return;
  }
  s = s * expf(m - mx) + s2 * expf(m2 - mx);
  m = mx;
}
__device__ __forceinline__ void cuop_warp_merge(float& m, float& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    cuop_online_merge(m, s, m2, s2);
  }
}
