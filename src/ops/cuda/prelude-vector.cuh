//# The 16-byte aligned vector of VEC elements (prelude.cuh {{VECTOR}}): {{BYTES}} = 16, {{VEC}} = 16 / sizeof(T).
struct alignas({{BYTES}}) cuop_vec { T v[{{VEC}}]; };
