//# One thread's walk over its share of a row p[0..n) (rowLoop() in src/ops/reduce-source.ts), scalar loads.
//#   {{START}} {{STEP}}   first index and stride (lane and 32, or threadIdx.x and blockDim.x)
//#   {{ELEMENT}}          the statement run on each element, given as cuop_to_f32(p[i])
  for (long long i = {{START}}; i < n; i += {{STEP}}) {{ELEMENT}}
