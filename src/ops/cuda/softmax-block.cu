//# Row-wise softmax over the last axis, one block per row (blockDim a multiple of 32, chosen at launch); filled by
//# softmaxSource() in src/ops/softmax-source.ts. Placeholders as in softmax-warp.cu.
// cuop softmax over the last axis | dtype={{DTYPE}} shape=block vec={{VEC}}
{{PRELUDE}}
{{ONLINE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const T* __restrict__ in, long long rows, long long n) {
  __shared__ float part_m[32], part_s[32];
  __shared__ float row_m, row_s;
  const long long row = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T* __restrict__ p = in + row * n;
  T* __restrict__ q = out + row * n;
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
    if (lane == 0) { row_m = m; row_s = s; }
  }
  __syncthreads();
  m = row_m;
  s = row_s;
  const float inv = 1.0f / s;
{{WRITE}}
}
