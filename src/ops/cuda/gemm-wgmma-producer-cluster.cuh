//# The producer of a clustered gemm-wgmma.cu ({{PRODUCER}} with CLUSTER ≥ 2; see gemm-wgmma-cluster.cuh): thread 0
//# of warpgroup 0 loads its block's A and every CLUSTER-th part of B (B panels p ≡ rank, or the rank-th BN/CLUSTER
//# rows of a K-major B box), multicast, and expects a whole stage's bytes: the rest of B comes from the peers. A
//# block whose tile row is past M (the last cluster row of an odd count) loads no A, only its part of B for the
//# others; its consumers compute on whatever the A slots hold and store nothing (every row ≥ M).
  if (wg == 0) {
    // Producer warpgroup: one thread issues every TMA copy; the others only give their registers back (exactly what
    // the consumers' setmaxnreg.inc takes from the block's pool: with fewer given back, the consumers wait forever).
    if (CONSUMERS > 1) asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if (tid == 0) {
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&mapA)) : "memory");
      asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&mapB)) : "memory");
      int stage = 0;
      unsigned phase = 0;
      for (int t = clusterId; t < clusterTiles; t += clusters) {
        int tm, tn;
        tile_of(t, clusterRows, tilesN, tm, tn);
        tm = tm * CLUSTER + rank;
        const int m0 = tm * BM;
        const int n0 = tn * BN;
        // Panels wholly past M (or N) are not loaded: they would only feed rows (columns) that are never stored.
        const int aPanels = m0 >= M ? 0 : TRANS_A ? min(BM / 64, (M - m0 + 63) / 64) : 1;
        const int bPanels = TRANS_B ? 1 : min(BN / 64, (N - n0 + 63) / 64);
        // K-major B: the box of BN/CLUSTER rows each block loads; those wholly past N are not loaded.
        const int bParts = TRANS_B ? min(CLUSTER, (N - n0 + BN / CLUSTER - 1) / (BN / CLUSTER)) : 0;
        const unsigned bytes = (TRANS_A ? aPanels * PANEL_BYTES : aPanels * A_STAGE_BYTES) +
                               (TRANS_B ? bParts * (B_STAGE_BYTES / CLUSTER) : bPanels * PANEL_BYTES);
        for (int kt = 0; kt < kTiles; ++kt) {
          const unsigned full = fullBar + 8u * stage;
          mbar_wait(emptyBar + 8u * stage, phase ^ 1u);
          mbar_expect_tx(full, bytes);
          const unsigned a = smem + stage * STAGE_BYTES;
          const unsigned b = a + A_STAGE_BYTES;
          const int k0 = kt * BK;
          if (TRANS_A) {
            for (int p = 0; p < aPanels; ++p) tma_load(a + p * PANEL_BYTES, &mapA, full, m0 + 64 * p, k0);
          } else if (aPanels > 0) {
            tma_load(a, &mapA, full, k0, m0);
          }
          if (TRANS_B) {
            if (rank < bParts)
              tma_load_multicast(b + rank * (B_STAGE_BYTES / CLUSTER), &mapB, full, k0, n0 + rank * (BN / CLUSTER));
          } else {
            // Unrolled (a compile-time trip count): the rolled loop spills at the producer's 40 registers (TN).
#pragma unroll
            for (int q = 0; q < (BN / 64 + CLUSTER - 1) / CLUSTER; ++q) {
              const int p = q * CLUSTER + rank;
              if (p < bPanels) tma_load_multicast(b + p * PANEL_BYTES, &mapB, full, n0 + 64 * p, k0);
            }
          }
          if (++stage == STAGES) {
            stage = 0;
            phase ^= 1u;
          }
        }
      }
    }
    // Stay in the cluster until every block is done: peers still arrive on this block's barriers.
    cluster_sync();
    return;
  }
