//# The producer of gemm-wgmma.cu ({{PRODUCER}}) without a cluster: thread 0 of warpgroup 0 issues every TMA copy of
//# the block's tiles, in the consumers' tile order, into the STAGES-deep ring.
  if (wg == 0) {
    // Producer warpgroup: one thread issues every TMA copy; the others only give their registers back.
    if (CONSUMERS > 1) asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if (tid == 0) {
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&mapA)) : "memory");
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&mapB)) : "memory");
      int stage = 0;
      unsigned phase = 0;
      for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int tm, tn;
        tile_of(t, tilesM, tilesN, tm, tn);
        const int m0 = tm * BM;
        const int n0 = tn * BN;
        // Panels wholly past M (or N) are not loaded: they would only feed rows (columns) that are never stored.
        const int aPanels = TRANS_A ? min(BM / 64, (M - m0 + 63) / 64) : 1;
        const int bPanels = TRANS_B ? 1 : min(BN / 64, (N - n0 + 63) / 64);
        const unsigned bytes = (TRANS_A ? aPanels * PANEL_BYTES : A_STAGE_BYTES) +
                               (TRANS_B ? B_STAGE_BYTES : bPanels * PANEL_BYTES);
        for (int kt = 0; kt < kTiles; ++kt) {
          const unsigned full = fullBar + 8u * stage;
          mbar_wait(emptyBar + 8u * stage, phase ^ 1u);
          mbar_expect_tx(full, bytes);
          const unsigned a = smem + stage * STAGE_BYTES;
          const unsigned b = a + A_STAGE_BYTES;
          const int k0 = kt * BK;
          if (TRANS_A) {
            for (int p = 0; p < aPanels; ++p) tma_load(a + p * PANEL_BYTES, &mapA, full, m0 + 64 * p, k0);
          } else {
            tma_load(a, &mapA, full, k0, m0);
          }
          if (TRANS_B) {
            tma_load(b, &mapB, full, k0, n0);
          } else {
            for (int p = 0; p < bPanels; ++p) tma_load(b + p * PANEL_BYTES, &mapB, full, n0 + 64 * p, k0);
          }
          if (++stage == STAGES) {
            stage = 0;
            phase ^= 1u;
          }
        }
      }
    }
    return;
  }
