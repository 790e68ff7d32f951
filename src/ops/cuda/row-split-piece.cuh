//# The opening of every split row kernel (reduce-pieces.cu, softmax-stats.cu, softmax-normalize.cu; parameters in,
//# total, chunk; grid (pieces, rows)): this block's row, piece start, lane and warp, its input p and piece length n.
  const long long row = blockIdx.y;
  const long long start = (long long)blockIdx.x * chunk;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T* __restrict__ p = in + row * total + start;
  const long long n = total - start < chunk ? total - start : chunk;
