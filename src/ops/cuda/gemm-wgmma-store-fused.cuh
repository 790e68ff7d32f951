//# The fused epilogue of gemm-wgmma.cu ({{EPILOGUE}}): C = epilogue(alpha·acc, row, col) + beta·C, stored as
//# cuop_out_t. {{APPLY_0}} / {{APPLY_1}}: cuop_epilogue(...) of a column pair read from the slice as `a`
//# (gemmEpilogueCode().apply). {{EPI_COLS}} / {{EPI_STRIDE}}: slice width and row stride in floats (gemm-wgmma-source.ts
//# sizes the shared memory from the same numbers). {{EPI_UNROLL}}: rows per iteration of the rolled loop. {{ROWS}}: the
//# first of the 64 rows this warpgroup stores (m0 + w * 64 cooperative, m0 + mh * 64 ping-pong).
//#
//# Why through shared memory: applied straight from the registers, the expression is inlined once per accumulator
//# (BN/2 = 128 copies at BN 256, since the accumulators can be indexed only by unrolled code). With erf, tanh or exp
//# that made the kernel 150-240 KB of machine code, far past the instruction cache. Here each consumer warpgroup
//# stages EPI_COLS columns of its 64 rows at a time, and a rolled loop applies the expression: one copy per slice.
    // Epilogue (fused, see cuop_epilogue). m64nNk16 accumulators: thread (warp v, lane l) holds, per n8 slice j,
    // (row 16v + l/4, columns 8j + 2(l%4), +1) in acc[4j], acc[4j+1] and the same columns of row + 8 in acc[4j+2],
    // acc[4j+3]. They go to this warpgroup's staging slice (past the pipeline stages), EPI_COLS columns at a time.
    {
      constexpr int EPI_COLS = {{EPI_COLS}};
      constexpr int EPI_STRIDE = {{EPI_STRIDE}};
      constexpr int PAIRS = EPI_COLS / 2;  // threads per staged row: each takes a column pair
      float *slice = reinterpret_cast<float *>(smem_raw + (smem - smem_u32(smem_raw)) + STAGES * STAGE_BYTES) +
                     w * 64 * EPI_STRIDE;
      const int rowIn = warpInGroup * 16 + lane / 4;
      const int q = tid % 128;
      const int pairCol = (q % PAIRS) * 2;
#pragma unroll
      for (int c = 0; c < BN / EPI_COLS; ++c) {
        // Named barrier of this warpgroup (0 is __syncthreads): the previous slice has been read by all.
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + w) : "memory");
#pragma unroll
        for (int jj = 0; jj < EPI_COLS / 8; ++jj) {
          const int j = c * (EPI_COLS / 8) + jj;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            *reinterpret_cast<float2 *>(slice + (rowIn + 8 * h) * EPI_STRIDE + jj * 8 + (lane % 4) * 2) =
                make_float2(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
          }
        }
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + w) : "memory");
        const int col = n0 + c * EPI_COLS + pairCol;
        if (col < N) { // N is a multiple of 8 and col is even: both columns are in range or neither is
          // One staged row: the expression on its column pair, plus beta·C when readC, then the store.
          const auto apply = [&](int r, bool readC) {
            const int row = {{ROWS}} + r;
            const float2 a = *reinterpret_cast<const float2 *>(slice + r * EPI_STRIDE + pairCol);
            float v0 = {{APPLY_0}};
            float v1 = {{APPLY_1}};
            cuop_out_t *p = C + (long long)row * N + col;
            if (readC) {
              float o0, o1;
              cuop_load2(p, o0, o1);
              v0 = fmaf(beta, o0, v0);
              v1 = fmaf(beta, o1, v1);
            }
            cuop_store2(p, v0, v1);
          };
          // The common case, all 64 rows in range and C not read: a fixed trip count with no exit or branch
          // inside, so the unrolled rows' long dependent chains overlap. Anything else takes the rolled loop.
          const int rowEnd = min(64, M - ({{ROWS}}));
          if (rowEnd == 64 && beta == 0.f) {
#pragma unroll {{EPI_UNROLL}}
            for (int r = q / PAIRS; r < 64; r += 128 / PAIRS) apply(r, false);
          } else {
#pragma unroll 1
            for (int r = q / PAIRS; r < rowEnd; r += 128 / PAIRS) apply(r, beta != 0.f);
          }
        }
      }
    }
