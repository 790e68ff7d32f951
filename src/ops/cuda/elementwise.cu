//# One fused elementwise kernel, out[i] = expr(in0[i], in1[i], …, s0, s1, …) for i < n, computed in f32; filled by
//# elementwiseSource() in src/ops/elementwise-source.ts. Placeholders:
//#   {{EXPR_TEXT}}      canonical text of the expression, scalars numbered (add(x0,s0))
//#   {{DTYPE}} {{VEC}}  element type name, elements per access (1: scalar loop only)
//#   {{PRELUDE}}        prelude.cuh, filled
//#   {{HELPERS}}        the ew-*.cuh helpers the expression calls (none, one or several)
//#   {{EXPR_PARAMS}}    cuop_expr's parameters: one float per input it reads, then one per scalar
//#   {{EXPR_BODY}}      cuop_expr's statements, one per distinct sub-expression, ending with `return tN;`
//#   {{BLOCK}}          threads per block (ELEMENTWISE_BLOCK)
//#   {{NAME}}           the extern "C" kernel name
//#   {{KERNEL_PARAMS}}  out, every input pointer (in0 … in{arity-1}), the scalars, n
//#   {{VECTOR_LOOP}}    ew-vector-loop.cuh when VEC > 1 (16-byte accesses), else nothing
//#   {{TAIL_START}}     first index of the scalar loop: tid, or nvec * VEC + tid after the vector loop
//#   {{SCALAR_CALL}}    cuop_expr(...) on element i of each input
// cuop elementwise: {{EXPR_TEXT}} | dtype={{DTYPE}} vec={{VEC}}
{{PRELUDE}}
{{HELPERS}}
__device__ __forceinline__ float cuop_expr({{EXPR_PARAMS}}) {
{{EXPR_BODY}}
}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}({{KERNEL_PARAMS}}) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
{{VECTOR_LOOP}}
  for (long long i = {{TAIL_START}}; i < n; i += stride) {
    out[i] = cuop_from_f32({{SCALAR_CALL}});
  }
}
