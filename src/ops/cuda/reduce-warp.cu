//# Reduction over the last axis, one warp per row (rows of n <= WARP_ROW_MAX); filled by reduceSource() in
//# src/ops/reduce-source.ts. Accumulates in f32. Placeholders:
//#   {{OP}} {{DTYPE}} {{VEC}}   sum or max, element type name, elements per load (first comment line)
//#   {{PRELUDE}}                prelude.cuh, filled
//#   {{WARP_REDUCE}}            reduce-warp-reduce.cuh for the op
//#   {{BLOCK}}                  threads per block (WARP_KERNEL_BLOCK)
//#   {{NAME}}                   the extern "C" kernel name
//#   {{IDENTITY}}               the op's identity
//#   {{ROW_LOOP}}               row-loop.cuh or row-loop-vector.cuh, accumulating into acc
// cuop reduce: {{OP}} over the last axis | dtype={{DTYPE}} shape=warp vec={{VEC}}
{{PRELUDE}}
{{WARP_REDUCE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const T* __restrict__ in, long long rows, long long n) {
  const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // uniform across the warp
  const T* __restrict__ p = in + row * n;
  float acc = {{IDENTITY}};
{{ROW_LOOP}}
  acc = cuop_warp_reduce(acc);
  if (lane == 0) out[row] = cuop_from_f32(acc);
}
