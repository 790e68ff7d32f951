//# The plain epilogue of gemm-mma.cu ({{EPILOGUE}} when the Gemm has no fused epilogue): C = alpha·acc + beta·C.
  // Epilogue. Accumulator layout of m16n8: c0,c1 at (row g, cols 2q, 2q+1), c2,c3 at (row g+8, same cols),
  // g = lane/4, q = lane%4.
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
        float v0 = alpha * acc[mt][nt][2 * h];
        float v1 = alpha * acc[mt][nt][2 * h + 1];
        T *p = C + (long long)row * N + col;
        if (ALIGNED) {
          // N is a multiple of 8 and col is even: both elements are in range or neither is.
          if (col < N) {
            if (beta != 0.f) {
              const T2 o = *reinterpret_cast<const T2 *>(p);
              v0 = fmaf(beta, __low2float(o), v0);
              v1 = fmaf(beta, __high2float(o), v1);
            }
            *reinterpret_cast<T2 *>(p) = pack2(v0, v1);
          }
        } else {
          if (col < N) p[0] = from_f32(beta != 0.f ? fmaf(beta, to_f32(p[0]), v0) : v0);
          if (col + 1 < N) p[1] = from_f32(beta != 0.f ? fmaf(beta, to_f32(p[1]), v1) : v1);
        }
      }
    }
  }
