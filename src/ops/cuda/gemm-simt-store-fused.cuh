//# The fused epilogue of gemm-simt.cu ({{EPILOGUE}}): C = epilogue(alpha·acc, row, col) + beta·C, stored as
//# cuop_out_t. {{APPLY_J}} is cuop_epilogue(...) for element j of the thread's 4 columns (gemmEpilogueCode().apply).
  // Epilogue (fused, see cuop_epilogue): thread owns rows {ty*4+i, BM/2+ty*4+i} and columns {tx*4+j, BN/2+tx*4+j}.
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int r = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
    if (r >= M) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int c = n0 + h * (BN / 2) + tx * 4;
      cuop_out_t *p = C + (long long)r * N + c;
      if (ALIGNED) {
        // N and c are multiples of 4: the 4 columns are all in range or none is.
        if (c < N) {
          float v[4];
#pragma unroll
          for (int j = 0; j < 4; ++j) v[j] = {{APPLY_J}};
          if (beta != 0.f) {
            float o[4];
            cuop_load4(p, o);
#pragma unroll
            for (int j = 0; j < 4; ++j) v[j] = fmaf(beta, o[j], v[j]);
          }
          cuop_store4(p, v);
        }
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          if (c + j < N) {
            const float v = {{APPLY_J}};
            p[j] = cuop_out_from_f32(beta != 0.f ? fmaf(beta, cuop_out_to_f32(p[j]), v) : v);
          }
        }
      }
    }
  }
