//# Row-wise softmax over the last axis, one warp per row; filled by softmaxSource() in src/ops/softmax-source.ts.
//# Placeholders:
//#   {{DTYPE}} {{VEC}}   element type name, elements per access (first comment line)
//#   {{PRELUDE}}         prelude.cuh, filled
//#   {{ONLINE}}          softmax-online.cuh
//#   {{BLOCK}}           threads per block (WARP_KERNEL_BLOCK)
//#   {{NAME}}            the extern "C" kernel name
//#   {{ROW_LOOP}}        row-loop.cuh or row-loop-vector.cuh, adding each element to (m, s)
//#   {{WRITE}}           softmax-write.cuh or softmax-write-vector.cuh
// cuop softmax over the last axis | dtype={{DTYPE}} shape=warp vec={{VEC}}
{{PRELUDE}}
{{ONLINE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(T* __restrict__ out, const T* __restrict__ in, long long rows, long long n) {
  const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // uniform across the warp
  const T* __restrict__ p = in + row * n;
  T* __restrict__ q = out + row * n;
  float m = CUOP_NEG_INF, s = 0.0f;
  {
{{ROW_LOOP}}
  }
  cuop_warp_merge(m, s);
  const float inv = 1.0f / s;
{{WRITE}}
}
