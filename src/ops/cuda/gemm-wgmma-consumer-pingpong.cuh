//# The ping-pong consumers of gemm-wgmma.cu ({{CONSUMER}}): each consumer warpgroup takes whole BM×BN tiles (BM/64
//# m64 slices of BN columns, at most 128 accumulators a thread), the consumers in turns: the block's i-th tile goes to
//# consumer i % CONSUMERS. The producer fills the ring in tile order, so a consumer's k-tiles sit kTiles·w ring slots
//# after the block's first, and it skips the other consumers' k-tiles after each tile. While one consumer stores a
//# tile (the epilogue, tensor cores idle for it), the next consumer's k-tiles are already landing and its wgmmas run:
//# the epilogue overlaps the MMAs (CUTLASS's "ping-pong" schedule), which matters most when K is short and a block
//# runs many tiles. Each stage is read by one consumer, so 4 warps release it (EMPTY_INIT).
//# The turns are kept by an mbarrier (SHARED_EXTRA: mainloopDone, count 1): the consumer of the block's tile i waits
//# for the one of tile i - 1 to have passed all its full barriers before it waits on any itself. Without that, a
//# consumer whose first slot is a lap (STAGES slots) or more ahead of the ring would wait on a stage whose previous
//# lap has not completed, and mbarrier.try_wait.parity, which sees only the parity of a phase, would let it through
//# on data that has not landed (test/ops/gemm-wgmma-pipeline.test.ts finds exactly that without the wait). The same
//# holds for mainloopDone itself, hence the warpgroup's named barrier before the wait (ID 1 + w, as the fused store).
//# {{SETUP}}: gemm-wgmma-consumer-setup.cuh. {{EPILOGUE}}: the store (gemm-wgmma-store*.cuh) with ROWS = m0 + mh * 64,
//# run once per m64 slice on acc = accs[mh].
  // Consumer warpgroups, in turns over whole tiles: wgmma over this consumer's stages, then its epilogue while the
  // next consumer's MMAs run.
{{SETUP}}
  float accs[MH][BN / 2];
  // The ring slot of this consumer's next k-tile: the producer's running k-tile count (slot % STAGES is the stage,
  // slot / STAGES the phase), starting after the k-tiles of the block's tiles that go to the consumers before it.
  unsigned slot = (unsigned)w * (unsigned)kTiles;
  const unsigned doneBar = smem_u32(&mainloopDone);
  unsigned turn = (unsigned)w; // the block's tile index of this consumer's tile: i-th tile of the block
  for (int t = blockIdx.x + w * gridDim.x; t < tiles; t += CONSUMERS * gridDim.x, turn += CONSUMERS) {
    int tm, tn;
    tile_of(t, tilesM, tilesN, tm, tn);
    const int m0 = tm * BM;
    const int n0 = tn * BN;
#pragma unroll
    for (int mh = 0; mh < MH; ++mh) {
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) accs[mh][i] = 0.f;
    }
    int prev = -1;
    if (turn > 0) {
      // This warpgroup's thread 0 has arrived for its previous tile (phase turn - 2 complete) before any of its warps
      // waits for phase turn - 1: a warp ahead of it would wait two phases ahead, and a parity wait passes at once.
      asm volatile("bar.sync %0, 128;\n" ::"r"(1 + w) : "memory");
      // The consumer of the block's previous tile has passed all its full barriers (phase turn - 1 of mainloopDone).
      mbar_wait(doneBar, (turn - 1u) & 1u);
    }
    for (int kt = 0; kt < kTiles; ++kt, ++slot) {
      const int stage = (int)(slot % STAGES);
      mbar_wait(fullBar + 8u * stage, (slot / STAGES) & 1u);
      const unsigned a = smem + stage * STAGE_BYTES;
      const unsigned b = a + A_STAGE_BYTES;
      const unsigned long long db = smem_desc(b, B_LBO, 1024u);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) {
#pragma unroll
        for (int mh = 0; mh < MH; ++mh)
          wgmma_tile(accs[mh], smem_desc(a + mh * PANEL_BYTES, A_LBO, 1024u) + kk * A_STEP, db + kk * B_STEP);
      }
      wgmma_commit();
      // At most this k-tile's group is still running: the previous one has read its stage, which goes back.
      wgmma_wait<1>();
      if (prev >= 0 && lane == 0) mbar_arrive(emptyBar + 8u * prev);
      prev = stage;
    }
    if (tid % 128 == 0) mbar_arrive(doneBar); // its full waits are behind this thread: the next consumer's turn
    wgmma_wait<0>();
    if (prev >= 0 && lane == 0) mbar_arrive(emptyBar + 8u * prev);
    slot += (unsigned)(CONSUMERS - 1) * (unsigned)kTiles; // the other consumers' tiles
#pragma unroll
    for (int mh = 0; mh < MH; ++mh) {
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(accs[mh][i]);
    }
#pragma unroll
    for (int mh = 0; mh < MH; ++mh) {
      float (&acc)[BN / 2] = accs[mh];
{{EPILOGUE}}
    }
  }
