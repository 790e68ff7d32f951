//# The second pass of a softmax row: q[i] = exp(p[i] - m) * inv for the row piece p[0..n) (needs m, inv, p, q, n),
//# reading the row again (L1/L2-resident for rows up to a few hundred KB). Scalar accesses.
//#   {{START}} {{STEP}}   first index and stride of this thread
  for (long long i = {{START}}; i < n; i += {{STEP}}) q[i] = cuop_from_f32(expf(cuop_to_f32(p[i]) - m) * inv);
