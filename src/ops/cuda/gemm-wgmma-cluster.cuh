//# What a clustered gemm-wgmma.cu adds ({{CLUSTER_DEFS}}, with a cluster of 2 or more blocks): the blocks of a cluster
//# work on tiles CLUSTER rows apart in one tile column (rows tm·CLUSTER + rank), so every stage's B is the same in
//# all of them. Each block's producer loads its own A and 1/CLUSTER of B, multicast into every block of the cluster
//# (the same shared-memory offset, completing bytes on the same barrier offset in each): per block and k-tile, L2
//# sends A + B/CLUSTER instead of A + B. So a stage may be refilled only when the consumers of every block have
//# given it back: a consumer warp arrives on that stage's empty barrier in every block (release_stage), and each
//# empty barrier counts CONSUMERS·4·CLUSTER arrivals. Peers' bytes may land before a block's own expect_tx (the
//# transaction count goes below zero; the phase still waits for the producer's arrival), but never a lap early: a
//# peer writes a stage again only after this block's consumers gave it back, which they do after its phase completed.
//# The barrier forms are CUTLASS's (a plain try_wait on the producer's own barrier, a remote arrive without a
//# cluster-scope release): with .acquire.cluster / .release.cluster the H200 ran this kernel 30 % slower.
//# One case mixes laps on an empty barrier: when rank 1 loads no B for a tile (the last tile column at most BN/2
//# wide with K-major B, at most 64 without), block 0 does not wait for block 1 and may give a stage's next lap back
//# on block 1's barrier while a block-1 warp, between its two arrives, still owes this lap's. That warp has retired
//# its reads, each phase still counts every warp of both blocks once, and the emulation
//# (test/ops/gemm-wgmma-pipeline.test.ts) finds no race or deadlock in it.
constexpr int CLUSTER = {{CLUSTER}}; // blocks per cluster, along M: they share each stage's B
constexpr unsigned short CLUSTER_MASK = (1u << CLUSTER) - 1u; // multicast to every block of the cluster

__device__ __forceinline__ unsigned cluster_reg_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ unsigned cluster_reg_id() {
  unsigned r;
  asm volatile("mov.u32 %0, %%clusterid.x;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ unsigned cluster_reg_count() {
  unsigned r;
  asm volatile("mov.u32 %0, %%nclusterid.x;\n" : "=r"(r));
  return r;
}
// Every thread of every block of the cluster. At the start: the barriers' init is visible before a peer's TMA or
// arrive reaches them. At the end: no block exits while a peer may still arrive on its barriers.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release;\n"
               "barrier.cluster.wait.acquire;\n" ::: "memory");
}
// A consumer warp gives a stage back to every block of the cluster (each one's producer writes part of it).
__device__ __forceinline__ void release_stage(unsigned bar) {
#pragma unroll
  for (unsigned r = 0; r < CLUSTER; ++r) {
    unsigned remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(bar), "r"(r));
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
  }
}
// One 2-D TMA box into shared memory at dst of every block of the cluster; completes its bytes on bar in each.
__device__ __forceinline__ void tma_load_multicast(unsigned dst, const TmaMap *map, unsigned bar, int c0, int c1) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
               " [%0], [%1, {%4, %5}], [%2], %3;\n" ::"r"(dst),
               "l"(reinterpret_cast<unsigned long long>(map)), "r"(bar), "h"(CLUSTER_MASK), "r"(c0), "r"(c1)
               : "memory");
}
