//# The start of every elementwise, reduce and softmax source (dtypePrelude() in src/ops/elementwise-source.ts):
//# CUOP_NEG_INF, the element type T with its f32 conversions, and the 16-byte vector type where one is used.
//# Sources must compile under NVRTC, which resolves no system header: only cuda_fp16.h / cuda_bf16.h are included,
//# and nothing from <math.h> beyond the built-in device math functions is used. NVRTC has no <math.h>, so no
//# INFINITY macro: -inf is spelled through an intrinsic.
//#   {{DTYPE}}    prelude-float32.cuh, prelude-float16.cuh or prelude-bfloat16.cuh
//#   {{VECTOR}}   prelude-vector.cuh, or nothing for scalar-only kernels
#define CUOP_NEG_INF __int_as_float((int)0xff800000u)
{{DTYPE}}
{{VECTOR}}
