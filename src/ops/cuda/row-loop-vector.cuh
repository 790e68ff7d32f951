//# One thread's walk over its share of a row p[0..n) (rowLoop() in src/ops/reduce-source.ts), 16-byte vector loads
//# (p is 16-byte aligned) and then a scalar loop over the n % VEC elements left.
//#   {{VEC}}              elements per vector
//#   {{START}} {{STEP}}   first index and stride, in vectors and then in elements
//#   {{VECTOR_ELEMENT}}   the statement run on element j of vector v, given as cuop_to_f32(v.v[j])
//#   {{ELEMENT}}          the statement run on each element of the tail, given as cuop_to_f32(p[i])
  const long long nvec = n / {{VEC}};
  const cuop_vec* __restrict__ pv = reinterpret_cast<const cuop_vec*>(p);
  for (long long i = {{START}}; i < nvec; i += {{STEP}}) {
    const cuop_vec v = pv[i];
#pragma unroll
    for (int j = 0; j < {{VEC}}; ++j) {{VECTOR_ELEMENT}}
  }
  for (long long i = nvec * {{VEC}} + {{START}}; i < n; i += {{STEP}}) {{ELEMENT}}
