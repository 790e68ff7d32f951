//# Reduction over the last axis, one block per row (blockDim a multiple of 32, chosen at launch); filled by
//# reduceSource() in src/ops/reduce-source.ts. Placeholders as in reduce-warp.cu, and:
//#   {{BLOCK_COMBINE}}   reduce-block-combine.cuh, storing out[row]
// cuop reduce: {{OP}} over the last axis | dtype={{DTYPE}} shape=block vec={{VEC}}
{{PRELUDE}}
{{WARP_REDUCE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const T* __restrict__ in, long long rows, long long n) {
  __shared__ float partial[32];
  const long long row = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T* __restrict__ p = in + row * n;
  float acc = {{IDENTITY}};
{{ROW_LOOP}}
{{BLOCK_COMBINE}}
}
