//# Grouped tile rasterization: consecutive blocks walk GROUP tile-rows of C column by column, so the A and B panels
//# they read stay in L2. Spliced into gemm-simt.cu and gemm-mma.cu as {{TILE_COORDS}}.
__device__ __forceinline__ void tile_coords(int tilesM, int tilesN, int &bm, int &bn) {
  const int GROUP = 8;
  const int pid = (int)blockIdx.x;
  const int perGroup = GROUP * tilesN;
  const int group = pid / perGroup;
  const int firstM = group * GROUP;
  const int gsz = min(tilesM - firstM, GROUP);
  const int inGroup = pid - group * perGroup;
  bm = firstM + inGroup % gsz;
  bn = inGroup / gsz;
}
