//# Pass 2 of a split row reduction (reduceSplitSource() in src/ops/reduce-source.ts): one warp per row combines the
//# row's count f32 pieces and writes out[row] in the element type. Placeholders as in reduce-warp.cu, and:
//#   {{ACCUMULATE}}   the statement that folds q[i] into acc
// cuop reduce: {{OP}} over the last axis, pass 2 of a split row | dtype={{DTYPE}}
{{PRELUDE}}
{{WARP_REDUCE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const float* __restrict__ pieces, long long rows, long long count) {
  const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // uniform across the warp
  const float* __restrict__ q = pieces + row * count;
  float acc = {{IDENTITY}};
  for (long long i = lane; i < count; i += 32) {{ACCUMULATE}}
  acc = cuop_warp_reduce(acc);
  if (lane == 0) out[row] = cuop_from_f32(acc);
}
