//# The plain epilogue of gemm-wgmma.cu ({{EPILOGUE}} when the Gemm has no fused epilogue): C = alpha·acc + beta·C.
//# {{ROWS}}: the first row of the 64 this warpgroup stores (m0 + w * 64 cooperative, m0 + mh * 64 ping-pong).
    // Epilogue. m64nNk16 accumulators: thread (warp v, lane l) holds, per n8 slice j, (row 16v + l/4, columns
    // 8j + 2(l%4), +1) in acc[4j], acc[4j+1] and the same columns of row + 8 in acc[4j+2], acc[4j+3].
    const int row0 = {{ROWS}} + warpInGroup * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      const int col = n0 + j * 8 + (lane % 4) * 2;
      if (col >= N) continue; // N is a multiple of 8 and col is even: both columns are in range or neither is
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row0 + h * 8;
        if (row >= M) continue;
        float v0 = alpha * acc[4 * j + 2 * h];
        float v1 = alpha * acc[4 * j + 2 * h + 1];
        T *p = C + (long long)row * N + col;
        if (beta != 0.f) {
          const T2 o = *reinterpret_cast<const T2 *>(p);
          v0 = fmaf(beta, __low2float(o), v0);
          v1 = fmaf(beta, __high2float(o), v1);
        }
        *reinterpret_cast<T2 *>(p) = pack2(v0, v1);
      }
    }
