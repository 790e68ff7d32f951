//# Pass 1 of a split row reduction (reduceSplitSource() in src/ops/reduce-source.ts): block (c, r) reduces piece c
//# of row r into pieces[r * gridDim.x + c], in f32. Placeholders as in reduce-block.cu, and:
//#   {{SPLIT_PIECE}}   row-split-piece.cuh
// cuop reduce: {{OP}} over the last axis, pass 1 of a split row | dtype={{DTYPE}} vec={{VEC}}
{{PRELUDE}}
{{WARP_REDUCE}}
extern "C" __global__ void __launch_bounds__({{BLOCK}})
{{NAME}}(float* __restrict__ pieces, const T* __restrict__ in, long long rows, long long total, long long chunk) {
  __shared__ float partial[32];
{{SPLIT_PIECE}}
  float acc = {{IDENTITY}};
{{ROW_LOOP}}
{{BLOCK_COMBINE}}
}
