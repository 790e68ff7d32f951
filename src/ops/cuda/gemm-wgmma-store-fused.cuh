//# The fused epilogue of gemm-wgmma.cu ({{EPILOGUE}}): C = epilogue(alpha·acc, row, col) + beta·C, stored as
//# cuop_out_t. {{APPLY_0}} / {{APPLY_1}}: cuop_epilogue(...) of the pair's two columns (gemmEpilogueCode().apply).
    // Epilogue (fused, see cuop_epilogue). m64nNk16 accumulators: thread (warp v, lane l) holds, per n8 slice j,
    // (row 16v + l/4, columns 8j + 2(l%4), +1) in acc[4j], acc[4j+1] and the same columns of row + 8 in acc[4j+2],
    // acc[4j+3].
    const int row0 = m0 + w * 64 + warpInGroup * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      const int col = n0 + j * 8 + (lane % 4) * 2;
      if (col >= N) continue; // N is a multiple of 8 and col is even: both columns are in range or neither is
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row0 + h * 8;
        if (row >= M) continue;
        float v0 = {{APPLY_0}};
        float v1 = {{APPLY_1}};
        cuop_out_t *p = C + (long long)row * N + col;
        if (beta != 0.f) {
          float o0, o1;
          cuop_load2(p, o0, o1);
          v0 = fmaf(beta, o0, v0);
          v1 = fmaf(beta, o1, v1);
        }
        cuop_store2(p, v0, v1);
      }
    }
