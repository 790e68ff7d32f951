//# The cooperative consumers of gemm-wgmma.cu ({{CONSUMER}}): every consumer warpgroup works on every tile, 64 rows
//# of it each, all sharing each stage's B. {{SETUP}}: gemm-wgmma-consumer-setup.cuh. {{EPILOGUE}}: the store
//# (gemm-wgmma-store*.cuh) with ROWS = m0 + w * 64. {{TILE_WALK}}: the loop over the block's tiles, which sets tm
//# and tn (the producer's walk). {{RELEASE}}: how a warp gives a stage back (mbar_arrive, or release_stage, which
//# arrives on that stage's empty barrier in every block of the cluster: each one's producer writes into it).
  // Consumer warpgroups: wgmma over the stages the producer filled, then the epilogue from the accumulators.
{{SETUP}}
  float acc[BN / 2];
  int stage = 0;
  unsigned phase = 0;
{{TILE_WALK}}
    const int m0 = tm * BM;
    const int n0 = tn * BN;
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.f;
    int prev = -1;
    for (int kt = 0; kt < kTiles; ++kt) {
      mbar_wait(fullBar + 8u * stage, phase);
      const unsigned a = smem + stage * STAGE_BYTES + w * PANEL_BYTES;
      const unsigned b = smem + stage * STAGE_BYTES + A_STAGE_BYTES;
      const unsigned long long da = smem_desc(a, A_LBO, 1024u);
      const unsigned long long db = smem_desc(b, B_LBO, 1024u);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) wgmma_tile(acc, da + kk * A_STEP, db + kk * B_STEP);
      wgmma_commit();
      // At most this k-tile's group is still running: the previous one has read its stage, which goes back.
      wgmma_wait<1>();
      if (prev >= 0 && lane == 0) {{RELEASE}}(emptyBar + 8u * prev);
      prev = stage;
      if (++stage == STAGES) {
        stage = 0;
        phase ^= 1u;
      }
    }
    wgmma_wait<0>();
    if (prev >= 0 && lane == 0) {{RELEASE}}(emptyBar + 8u * prev);
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);

{{EPILOGUE}}
  }
