//# Combine every thread's acc across the block (needs partial[32], lane, warp); thread 0 runs STORE.
//#   {{IDENTITY}}   the reduction's identity (0.0f, CUOP_NEG_INF), for the slots of warps the block lacks
//#   {{STORE}}      the statement that writes the block's result acc
  acc = cuop_warp_reduce(acc);
  if (lane == 0) partial[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < (int)(blockDim.x >> 5) ? partial[lane] : {{IDENTITY}};
    acc = cuop_warp_reduce(acc);
    if (lane == 0) {{STORE}}
  }
