//# The second pass of a softmax row as softmax-write.cuh, with 16-byte vector accesses (p and q are 16-byte aligned)
//# and then a scalar loop over the n % VEC elements left.
//#   {{VEC}}              elements per vector
//#   {{START}} {{STEP}}   first index and stride of this thread, in vectors and then in elements
  {
  const long long nvec = n / {{VEC}};
  const cuop_vec* __restrict__ pv = reinterpret_cast<const cuop_vec*>(p);
  cuop_vec* __restrict__ qv = reinterpret_cast<cuop_vec*>(q);
  for (long long i = {{START}}; i < nvec; i += {{STEP}}) {
    const cuop_vec v = pv[i];
    cuop_vec r;
#pragma unroll
    for (int j = 0; j < {{VEC}}; ++j) r.v[j] = cuop_from_f32(expf(cuop_to_f32(v.v[j]) - m) * inv);
    qv[i] = r;
  }
  for (long long i = nvec * {{VEC}} + {{START}}; i < n; i += {{STEP}})
    q[i] = cuop_from_f32(expf(cuop_to_f32(p[i]) - m) * inv);
  }
