//# The fused epilogue of gemm-mma.cu ({{EPILOGUE}}): C = epilogue(alpha·acc, row, col) + beta·C, stored as
//# cuop_out_t. {{APPLY_0}} / {{APPLY_1}}: cuop_epilogue(...) of the pair's two columns (gemmEpilogueCode().apply).
  // Epilogue (fused, see cuop_epilogue). Accumulator layout of m16n8: c0,c1 at (row g, cols 2q, 2q+1), c2,c3 at
  // (row g+8, same cols), g = lane/4, q = lane%4.
  const int g = lane / 4;
  const int q = lane % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int col = n0 + wn * WTN + nt * 8 + q * 2;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + wm * WTM + mt * 16 + g + h * 8;
        if (row >= M) continue;
        cuop_out_t *p = C + (long long)row * N + col;
        if (ALIGNED) {
          // N is a multiple of 8 and col is even: both elements are in range or neither is.
          if (col < N) {
            float v0 = {{APPLY_0}};
            float v1 = {{APPLY_1}};
            if (beta != 0.f) {
              float o0, o1;
              cuop_load2(p, o0, o1);
              v0 = fmaf(beta, o0, v0);
              v1 = fmaf(beta, o1, v1);
            }
            cuop_store2(p, v0, v1);
          }
        } else {
          if (col < N) {
            const float v0 = {{APPLY_0}};
            p[0] = cuop_out_from_f32(beta != 0.f ? fmaf(beta, cuop_out_to_f32(p[0]), v0) : v0);
          }
          if (col + 1 < N) {
            const float v1 = {{APPLY_1}};
            p[1] = cuop_out_from_f32(beta != 0.f ? fmaf(beta, cuop_out_to_f32(p[1]), v1) : v1);
          }
        }
      }
    }
  }
