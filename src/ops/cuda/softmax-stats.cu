//# Pass 1 of a split softmax row (softmaxSplitSource() in src/ops/softmax-source.ts): block (c, r) writes the online
//# (max, sum) pair of piece c of row r to stats[2 * (r * gridDim.x + c)]. Placeholders as in softmax-warp.cu, and:
//#   {{SPLIT_PIECE}}   row-split-piece.cuh
// cuop softmax over the last axis, pass 1 of a split row | dtype={{DTYPE}} vec={{VEC}}
{{PRELUDE}}
{{ONLINE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(float* __restrict__ stats, const T* __restrict__ in, long long rows, long long total, long long chunk) {
  __shared__ float part_m[32], part_s[32];
{{SPLIT_PIECE}}
  float m = CUOP_NEG_INF, s = 0.0f;
  {
{{ROW_LOOP}}
  }
  cuop_warp_merge(m, s);
  if (lane == 0) { part_m[warp] = m; part_s[warp] = s; }
  __syncthreads();
  if (warp == 0) {
    const bool live = lane < (int)(blockDim.x >> 5);
    m = live ? part_m[lane] : CUOP_NEG_INF;
    s = live ? part_s[lane] : 0.0f;
    cuop_warp_merge(m, s);
    if (lane == 0) {
      float* st = stats + 2 * (row * gridDim.x + blockIdx.x);
      st[0] = m;
      st[1] = s;
    }
  }
}
