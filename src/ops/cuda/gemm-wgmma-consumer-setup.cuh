//# What both kinds of consumers of gemm-wgmma.cu set up first ({{SETUP}} in gemm-wgmma-consumer*.cuh): their share of
//# the registers, who they are, and the wgmma descriptor fields of the operands' layouts.
  if (CONSUMERS > 1) asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
  const int w = wg - 1;
  const int lane = tid % 32;
  const int warpInGroup = (tid % 128) / 32;
  // Descriptor fields per operand layout, and the descriptor step of one k16 slice.
  constexpr unsigned A_LBO = TRANS_A ? PANEL_BYTES : 16u;
  constexpr unsigned B_LBO = TRANS_B ? 16u : PANEL_BYTES;
  constexpr unsigned long long A_STEP = TRANS_A ? (16u * 128u) >> 4 : 32u >> 4;
  constexpr unsigned long long B_STEP = TRANS_B ? 32u >> 4 : (16u * 128u) >> 4;
