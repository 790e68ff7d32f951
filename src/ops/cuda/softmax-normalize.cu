//# Pass 2 of a split softmax row (softmaxSplitSource() in src/ops/softmax-source.ts): every block of row r merges the
//# row's (max, sum) pairs with the same online merge and writes its piece. Placeholders as in softmax-stats.cu.
// cuop softmax over the last axis, pass 2 of a split row | dtype={{DTYPE}} vec={{VEC}}
{{PRELUDE}}
{{ONLINE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const T* __restrict__ in, const float* __restrict__ stats, long long rows, long long total, long long chunk) {
  __shared__ float row_m, row_s;
{{SPLIT_PIECE}}
  T* __restrict__ q = out + row * total + start;
  if (warp == 0) {
    float m = CUOP_NEG_INF, s = 0.0f;
    const float* __restrict__ st = stats + 2 * row * (long long)gridDim.x;
    for (long long i = lane; i < (long long)gridDim.x; i += 32) cuop_online_merge(m, s, st[2 * i], st[2 * i + 1]);
    cuop_warp_merge(m, s);
    if (lane == 0) { row_m = m; row_s = s; }
  }
  __syncthreads();
  const float m = row_m, inv = 1.0f / row_s;
{{WRITE}}
}
