// Fused GEMM epilogues: what happens to each accumulator between the last mma/FFMA and the store, written in the
// elementwise expression language (elementwise-source.ts) over three inputs:
//   acc       = alpha · (op(A)·op(B))[row, col]      (ew.input(0))
//   bias      = bias[col], a vector of length N        (ew.input(1))
//   residual  = residual[row, col], an M×N matrix     (ew.input(2))
// and then C = epilogue + beta · C (beta = 0: C is never read), stored as the output dtype (the "cast").
//
// Two ways to say it:
//   new Gemm({ dtype: 'float16', epilogue: { bias: true, activation: 'gelu', residual: true, scale: 0.5 } })
//     → C = 0.5 · gelu(acc + bias) + residual                         (each part optional, in this order)
//   new Gemm({ dtype: 'float16', epilogue: { expr: ({ acc, bias }) => acc.add(bias).silu().mul(2) } })
//     → any elementwise expression; reading bias / residual is what makes them inputs.
// Bias and residual have the output's dtype (outDtype, default the inputs' dtype). Numbers in the expression (scale)
// are run-time kernel arguments: changing one reuses the compiled kernel.
//
// gemmEpilogueCode() is the reusable generator: device functions plus a call `cuop_epilogue(acc, row, col, N, …)`
// that any GEMM kernel (SIMT, mma.sync, a future wgmma one) can splice in where it holds an accumulator value, its
// row and its column. A Gemm without an epilogue generates exactly the source it always did.
import { attachDetails, registerErrorClass, type ParamType } from '../cuda/index.js';
import {
  ew,
  EwExpr,
  helpersFor,
  lowerExpression,
  type HelperFiles,
  type LoweredExpression,
} from './elementwise-source.js';
import { DTYPE_CTYPE, type DType } from './tensor.js';

/** Activations of the structured epilogue: 'gelu' is the exact erf form (PyTorch's default), 'gelu-tanh' the approximation. */
export type GemmActivation = 'none' | 'relu' | 'gelu' | 'gelu-erf' | 'gelu-tanh' | 'silu';

const ACTIVATIONS: readonly GemmActivation[] = ['none', 'relu', 'gelu', 'gelu-erf', 'gelu-tanh', 'silu'];

/** The operands an epilogue expression may read. */
export interface GemmEpilogueOperands {
  /** alpha · op(A)·op(B) at (row, col), in f32. */
  readonly acc: EwExpr;
  /** bias[col] (a length-N tensor of the output dtype). */
  readonly bias: EwExpr;
  /** residual[row, col] (an M×N tensor of the output dtype). */
  readonly residual: EwExpr;
}

/** What a Gemm does in its epilogue: `scale · activation(acc + bias) + residual`, or any expression, then the cast. */
export interface GemmEpilogueOptions {
  /** Add a per-column bias (a tensor of length N, passed after A and B). */
  readonly bias?: boolean;
  /** Applied after the bias (default 'none'). */
  readonly activation?: GemmActivation;
  /** Multiplies the activated value (a run-time argument). */
  readonly scale?: number;
  /** Add an M×N residual tensor last (passed after A, B and the bias). */
  readonly residual?: boolean;
  /** Any elementwise expression instead of bias/activation/scale/residual. */
  readonly expr?: (v: GemmEpilogueOperands) => EwExpr;
  /** The dtype of C, the bias and the residual (default: the inputs' dtype). */
  readonly outDtype?: DType;
}

/** Raised when an epilogue cannot be generated (unknown activation, an expression that ignores acc, …). */
export class GemmEpilogueError extends TypeError {
  override readonly name = 'GemmEpilogueError';
  constructor(message: string) {
    super(message);
    attachDetails(this, {});
  }
}
registerErrorClass('GemmEpilogueError', GemmEpilogueError);

/** An epilogue reduced to what source generation needs (the expression's structure, which inputs, the out dtype). */
export interface GemmEpilogue {
  readonly lowered: LoweredExpression;
  readonly bias: boolean;
  readonly residual: boolean;
  readonly outDtype: DType;
}

// In an epilogue the activation runs once per output while the tensor cores wait (compute-bound, unlike the
// memory-bound elementwise ops): the same functions in cheaper forms (gemm-epi-*.cuh, each states its accuracy).
const EPILOGUE_HELPERS: HelperFiles = [
  ['cuop_gelu_tanh(', 'gemm-epi-gelu-tanh.cuh'],
  ['cuop_gelu_erf(', 'gemm-epi-gelu-erf.cuh'],
  ['cuop_sigmoid(', 'gemm-epi-sigmoid.cuh'],
];

const OPERANDS: GemmEpilogueOperands = { acc: ew.input(0), bias: ew.input(1), residual: ew.input(2) };
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/**
 * Check and lower epilogue options for inputs of `inDtype`; undefined when there is nothing to fuse (no options, or
 * only an outDtype equal to the inputs'), so that such a Gemm generates its plain source.
 */
export function lowerGemmEpilogue(
  opts: GemmEpilogueOptions | undefined,
  inDtype: DType,
): GemmEpilogue | undefined {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') {
    throw new GemmEpilogueError(
      `Gemm: epilogue must be an object such as { bias: true, activation: 'gelu' }`,
    );
  }
  const known = new Set(['bias', 'activation', 'scale', 'residual', 'expr', 'outDtype']);
  for (const k of Object.keys(opts)) {
    if (!known.has(k)) {
      throw new GemmEpilogueError(
        `Gemm: unknown epilogue field '${k}'; expected bias, activation, scale, residual, expr or outDtype`,
      );
    }
  }
  const outDtype = opts.outDtype ?? inDtype;
  if (!DTYPES.includes(outDtype)) {
    throw new GemmEpilogueError(
      `Gemm: epilogue outDtype must be float32, float16 or bfloat16, got ${String(outDtype)}`,
    );
  }
  let expr: EwExpr;
  if (opts.expr !== undefined) {
    for (const k of ['bias', 'activation', 'scale', 'residual'] as const) {
      if (opts[k] !== undefined) {
        throw new GemmEpilogueError(
          `Gemm: epilogue.expr replaces bias/activation/scale/residual; drop '${k}' and write it in the expression`,
        );
      }
    }
    if (typeof opts.expr !== 'function') {
      throw new GemmEpilogueError(
        'Gemm: epilogue.expr must be a function ({ acc, bias, residual }) => ew expression',
      );
    }
    const e = opts.expr(OPERANDS);
    if (!(e instanceof EwExpr)) {
      throw new GemmEpilogueError(
        'Gemm: epilogue.expr must return an expression built from acc, bias, residual and ew',
      );
    }
    expr = e;
  } else {
    const act = opts.activation ?? 'none';
    if (!ACTIVATIONS.includes(act)) {
      throw new GemmEpilogueError(
        `Gemm: unknown epilogue activation '${String(act)}'; expected one of ${ACTIVATIONS.join(', ')}`,
      );
    }
    if (opts.scale !== undefined && (typeof opts.scale !== 'number' || !Number.isFinite(opts.scale))) {
      throw new GemmEpilogueError(`Gemm: epilogue scale must be a finite number, got ${String(opts.scale)}`);
    }
    expr = OPERANDS.acc;
    if (opts.bias) expr = expr.add(OPERANDS.bias);
    if (act === 'relu') expr = expr.relu();
    else if (act === 'gelu' || act === 'gelu-erf') expr = expr.geluErf();
    else if (act === 'gelu-tanh') expr = expr.gelu();
    else if (act === 'silu') expr = expr.silu();
    if (opts.scale !== undefined) expr = expr.mul(opts.scale);
    if (opts.residual) expr = expr.add(OPERANDS.residual);
    if (expr === OPERANDS.acc && outDtype === inDtype) return undefined;
  }
  let lowered: LoweredExpression;
  try {
    lowered = lowerExpression(expr);
  } catch (e) {
    throw new GemmEpilogueError(`Gemm: epilogue expression: ${(e as Error).message}`);
  }
  if (!lowered.usedInputs.includes(0)) {
    throw new GemmEpilogueError(
      `Gemm: the epilogue expression ${lowered.text} never reads acc (the product)`,
    );
  }
  if (lowered.usedInputs.some((i) => i > 2)) {
    throw new GemmEpilogueError(
      `Gemm: the epilogue expression ${lowered.text} reads an input other than acc, bias and residual`,
    );
  }
  return {
    lowered,
    bias: lowered.usedInputs.includes(1),
    residual: lowered.usedInputs.includes(2),
    outDtype,
  };
}

/** The canonical text of an epilogue: equal texts ⇔ equal generated code (`gelu(add(x0,x1))->float16`). */
export function epilogueText(e: GemmEpilogue | undefined): string {
  return e === undefined ? 'none' : `${e.lowered.text}->${e.outDtype}`;
}

/** The generated pieces of an epilogue for one kernel. */
export interface GemmEpilogueCode {
  /** Device code to place before the kernel: the output type, its conversions and stores, cuop_epilogue. */
  readonly defs: readonly string[];
  /** The kernel's extra parameters, as text starting with ', ' (bias, residual, scalars), or '' when none. */
  readonly params: string;
  /** Their types, appended to the GEMM signature. */
  readonly signature: readonly ParamType[];
  /** The C++ type of C (`cuop_out_t`). */
  readonly outType: string;
  /**
   * The expression computing the epilogue's value for an accumulator `acc` (already scaled by alpha) at `row`,
   * `col`: needs `N` and the extra parameters in scope (the kernel's own parameters).
   */
  apply(acc: string, row: string, col: string): string;
}

const CONVERT: Readonly<Record<DType, { include: string[]; to: string; from: string }>> = {
  float32: { include: [], to: 'v', from: 'v' },
  float16: { include: ['#include <cuda_fp16.h>'], to: '__half2float(v)', from: '__float2half_rn(v)' },
  bfloat16: {
    include: ['#include <cuda_bf16.h>'],
    to: '__bfloat162float(v)',
    from: '__float2bfloat16_rn(v)',
  },
};

/** Paired and quad stores/loads of the output type (aligned: pairs at even, quads at multiple-of-4 columns). */
function vectorAccess(out: DType): string[] {
  if (out === 'float32') {
    return [
      '__device__ __forceinline__ void cuop_store2(cuop_out_t *p, float a, float b) {',
      '  *reinterpret_cast<float2 *>(p) = make_float2(a, b);',
      '}',
      '__device__ __forceinline__ void cuop_load2(const cuop_out_t *p, float &a, float &b) {',
      '  const float2 o = *reinterpret_cast<const float2 *>(p);',
      '  a = o.x;',
      '  b = o.y;',
      '}',
      '__device__ __forceinline__ void cuop_store4(cuop_out_t *p, const float (&v)[4]) {',
      '  *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);',
      '}',
      '__device__ __forceinline__ void cuop_load4(const cuop_out_t *p, float (&v)[4]) {',
      '  const float4 o = *reinterpret_cast<const float4 *>(p);',
      '  v[0] = o.x;',
      '  v[1] = o.y;',
      '  v[2] = o.z;',
      '  v[3] = o.w;',
      '}',
    ];
  }
  const pair = out === 'float16' ? '__half2' : '__nv_bfloat162';
  const pack = out === 'float16' ? '__floats2half2_rn' : '__floats2bfloat162_rn';
  return [
    `__device__ __forceinline__ void cuop_store2(cuop_out_t *p, float a, float b) {`,
    `  *reinterpret_cast<${pair} *>(p) = ${pack}(a, b);`,
    '}',
    '__device__ __forceinline__ void cuop_load2(const cuop_out_t *p, float &a, float &b) {',
    `  const ${pair} o = *reinterpret_cast<const ${pair} *>(p);`,
    '  a = __low2float(o);',
    '  b = __high2float(o);',
    '}',
    '__device__ __forceinline__ void cuop_store4(cuop_out_t *p, const float (&v)[4]) {',
    '  cuop_store2(p, v[0], v[1]);',
    '  cuop_store2(p + 2, v[2], v[3]);',
    '}',
    '__device__ __forceinline__ void cuop_load4(const cuop_out_t *p, float (&v)[4]) {',
    '  cuop_load2(p, v[0], v[1]);',
    '  cuop_load2(p + 2, v[2], v[3]);',
    '}',
  ];
}

/** Generate an epilogue's device code and parameters (see GemmEpilogueCode). Deterministic. */
export function gemmEpilogueCode(e: GemmEpilogue): GemmEpilogueCode {
  const { lowered, outDtype } = e;
  const conv = CONVERT[outDtype];
  const scalars = lowered.scalars.map((_, i) => `s${i}`);
  const exprParams = [...lowered.usedInputs.map((i) => `float x${i}`), ...scalars.map((s) => `float ${s}`)];
  const ptrParams = [
    ...(e.bias ? ['const cuop_out_t *__restrict__ bias'] : []),
    ...(e.residual ? ['const cuop_out_t *__restrict__ residual'] : []),
  ];
  const epiParams = [
    'float x0',
    'int row',
    'int col',
    'int N',
    ...ptrParams,
    ...scalars.map((s) => `float ${s}`),
  ];
  const loads = [
    ...(e.bias ? ['  const float x1 = cuop_out_to_f32(__ldg(bias + col));'] : []),
    ...(e.residual
      ? ['  const float x2 = cuop_out_to_f32(__ldg(residual + (long long)row * N + col));']
      : []),
  ];
  const defs = [
    `// Fused epilogue: ${lowered.text} (x0 = alpha·acc, x1 = bias[col], x2 = residual[row, col]) -> ${outDtype}`,
    ...conv.include,
    `typedef ${DTYPE_CTYPE[outDtype]} cuop_out_t;`,
    `__device__ __forceinline__ float cuop_out_to_f32(cuop_out_t v) { return ${conv.to}; }`,
    `__device__ __forceinline__ cuop_out_t cuop_out_from_f32(float v) { return ${conv.from}; }`,
    ...vectorAccess(outDtype),
    ...helpersFor(lowered.body, EPILOGUE_HELPERS),
    `__device__ __forceinline__ float cuop_expr(${exprParams.join(', ')}) {`,
    ...lowered.body.map((l) => `  ${l}`),
    '}',
    `__device__ __forceinline__ float cuop_epilogue(${epiParams.join(', ')}) {`,
    ...(loads.length === 0 ? ['  (void)row;', '  (void)col;', '  (void)N;'] : []),
    ...loads,
    `  return cuop_expr(${[...lowered.usedInputs.map((i) => `x${i}`), ...scalars].join(', ')});`,
    '}',
  ];
  const argNames = [...(e.bias ? ['bias'] : []), ...(e.residual ? ['residual'] : []), ...scalars];
  return {
    defs,
    params: [...ptrParams, ...scalars.map((s) => `float ${s}`)].map((p) => `, ${p}`).join(''),
    signature: [
      ...(e.bias ? ['ptr' as const] : []),
      ...(e.residual ? ['ptr' as const] : []),
      ...scalars.map(() => 'f32' as const),
    ],
    outType: 'cuop_out_t',
    apply: (acc, row, col) => `cuop_epilogue(${[acc, row, col, 'N', ...argNames].join(', ')})`,
  };
}
