//# The plain epilogue of gemm-simt.cu ({{EPILOGUE}} when the Gemm has no fused epilogue): C = alpha·acc + beta·C.
  // Epilogue: thread owns rows {ty*4+i, BM/2+ty*4+i} and columns {tx*4+j, BN/2+tx*4+j}, i, j < 4.
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int r = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
    if (r >= M) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int c = n0 + h * (BN / 2) + tx * 4;
      float *p = C + (long long)r * N + c;
      float v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = alpha * acc[i][h * 4 + j];
      if (ALIGNED) {
        if (c < N) {
          if (beta != 0.f) {
            const float4 o = *reinterpret_cast<const float4 *>(p);
            v[0] = fmaf(beta, o.x, v[0]);
            v[1] = fmaf(beta, o.y, v[1]);
            v[2] = fmaf(beta, o.z, v[2]);
            v[3] = fmaf(beta, o.w, v[3]);
          }
          *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
        }
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (c + j < N) p[j] = beta != 0.f ? fmaf(beta, p[j], v[j]) : v[j];
        }
      }
    }
  }
