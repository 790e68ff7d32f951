//# The 16-byte vector grid-stride loop of elementwise.cu ({{VECTOR_LOOP}}); all pointers are 16-byte aligned.
//#   {{VEC}}            elements per vector
//#   {{VECTOR_VIEWS}}   `const cuop_vec* vinK = ...(inK);` for each input K the expression reads
//#   {{VECTOR_LOADS}}   `const cuop_vec aK = vinK[i];` for each input K the expression reads
//#   {{VECTOR_CALL}}    cuop_expr(...) on element j of each loaded vector
  const long long nvec = n / {{VEC}};
{{VECTOR_VIEWS}}
  cuop_vec* __restrict__ vout = reinterpret_cast<cuop_vec*>(out);
  for (long long i = tid; i < nvec; i += stride) {
{{VECTOR_LOADS}}
    cuop_vec r;
#pragma unroll
    for (int j = 0; j < {{VEC}}; ++j) r.v[j] = cuop_from_f32({{VECTOR_CALL}});
    vout[i] = r;
  }
