// Source generation for elementwise kernels, and the small expression language that fuses a chain of elementwise
// operations into one kernel. String building over the CUDA templates in src/ops/cuda/ (prelude*.cuh, elementwise.cu,
// ew-*.cuh; see cuda-text.ts): nothing here touches the device, so CPU-only CI can test it.
//
// The expression API is a tiny builder (`ew`):
//
//   const f = ew.input(0).mul(ew.input(1)).add(1.5).gelu();       // gelu(x0 * x1 + 1.5), one kernel
//   const g = ew.relu(ew.sub(ew.input(0), 0.25));                  // the same operations as free functions
//
// Nodes are immutable; a node may be reused (`const a = x.mul(y); a.add(a)`) and is then computed once.
// JS numbers in an expression become *runtime* kernel arguments (`float s0, s1, …`), numbered in the order a
// depth-first, left-to-right walk meets them: `x.add(1.5)` and `x.add(2.5)` generate the identical source (one cache
// entry); only the expression's structure, the dtype and the vector width change the source.
//
// All arithmetic is f32; float16/bfloat16 values are widened on load and rounded to nearest even on store.
// gelu is the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's approximate='tanh');
// geluErf is the exact form 0.5·x·(1 + erf(x/√2)) (PyTorch's default).
import { cudaLines, fillCuda } from './cuda-text.js';
import { DTYPE_BYTES, type DType } from './tensor.js';

/** Bytes moved by one vectorized load or store. */
export const VECTOR_BYTES = 16;
/** Threads per block of the elementwise kernels. */
export const ELEMENTWISE_BLOCK = 256;

/** The one-operand functions of an elementwise expression (gelu: the tanh approximation; geluErf: exact). */
export type UnaryOp = 'neg' | 'relu' | 'gelu' | 'geluErf' | 'exp' | 'tanh' | 'sigmoid' | 'silu' | 'abs';
/** The two-operand functions of an elementwise expression. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum';

/** A node of an elementwise expression tree: an input tensor, a scalar, or an operation on nodes. */
export type EwNode =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'scalar'; readonly value: number }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly a: EwNode }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly a: EwNode; readonly b: EwNode };

/** An elementwise expression over inputs x0, x1, … and scalars. Build it with `ew`. */
export class EwExpr {
  constructor(readonly node: EwNode) {}

  /** `this + other`. */
  add(other: EwExpr | number): EwExpr {
    return binary('add', this, other);
  }
  /** `this - other`. */
  sub(other: EwExpr | number): EwExpr {
    return binary('sub', this, other);
  }
  /** `this * other`. */
  mul(other: EwExpr | number): EwExpr {
    return binary('mul', this, other);
  }
  /** `this / other`. */
  div(other: EwExpr | number): EwExpr {
    return binary('div', this, other);
  }
  /** The larger of `this` and `other`. */
  maximum(other: EwExpr | number): EwExpr {
    return binary('maximum', this, other);
  }
  /** The smaller of `this` and `other`. */
  minimum(other: EwExpr | number): EwExpr {
    return binary('minimum', this, other);
  }
  /** `-this`. */
  neg(): EwExpr {
    return unary('neg', this);
  }
  /** `|this|`. */
  abs(): EwExpr {
    return unary('abs', this);
  }
  /** `max(this, 0)`. */
  relu(): EwExpr {
    return unary('relu', this);
  }
  /** tanh approximation of GELU. */
  gelu(): EwExpr {
    return unary('gelu', this);
  }
  /** exact (erf) GELU. */
  geluErf(): EwExpr {
    return unary('geluErf', this);
  }
  /** `e^this`. */
  exp(): EwExpr {
    return unary('exp', this);
  }
  /** `tanh(this)`. */
  tanh(): EwExpr {
    return unary('tanh', this);
  }
  /** `1 / (1 + e^-this)`. */
  sigmoid(): EwExpr {
    return unary('sigmoid', this);
  }
  /** x · sigmoid(x). */
  silu(): EwExpr {
    return unary('silu', this);
  }

  /** Canonical text of the expression with scalars as s0, s1, … (e.g. `gelu(add(mul(x0,x1),s0))`). */
  toString(): string {
    return lowerExpression(this).text;
  }
}

const toExpr = (v: EwExpr | number): EwExpr => {
  if (v instanceof EwExpr) return v;
  if (typeof v !== 'number') throw new TypeError(`elementwise operand must be an ew expression or a number`);
  return new EwExpr({ kind: 'scalar', value: v });
};
const unary = (op: UnaryOp, a: EwExpr | number): EwExpr =>
  new EwExpr({ kind: 'unary', op, a: toExpr(a).node });
const binary = (op: BinaryOp, a: EwExpr | number, b: EwExpr | number): EwExpr =>
  new EwExpr({ kind: 'binary', op, a: toExpr(a).node, b: toExpr(b).node });

/** The expression builder. `ew.input(i)` is the i-th input tensor; numbers are scalars. */
export const ew = {
  /** The input tensor at `index` (0..63), in the order the operator receives its inputs. */
  input(index: number): EwExpr {
    if (!Number.isInteger(index) || index < 0 || index > 63) {
      throw new RangeError(`ew.input(index): index must be an integer in 0..63, got ${index}`);
    }
    return new EwExpr({ kind: 'input', index });
  },
  /** A number as an expression (each scalar becomes a kernel argument, not a constant in the source). */
  scalar: (value: number): EwExpr => toExpr(value),
  /** `a + b`. */
  add: (a: EwExpr | number, b: EwExpr | number) => binary('add', a, b),
  /** `a - b`. */
  sub: (a: EwExpr | number, b: EwExpr | number) => binary('sub', a, b),
  /** `a * b`. */
  mul: (a: EwExpr | number, b: EwExpr | number) => binary('mul', a, b),
  /** `a / b`. */
  div: (a: EwExpr | number, b: EwExpr | number) => binary('div', a, b),
  /** The larger of `a` and `b`. */
  maximum: (a: EwExpr | number, b: EwExpr | number) => binary('maximum', a, b),
  /** The smaller of `a` and `b`. */
  minimum: (a: EwExpr | number, b: EwExpr | number) => binary('minimum', a, b),
  /** `-a`. */
  neg: (a: EwExpr | number) => unary('neg', a),
  /** `|a|`. */
  abs: (a: EwExpr | number) => unary('abs', a),
  /** `max(a, 0)`. */
  relu: (a: EwExpr | number) => unary('relu', a),
  /** GELU, tanh approximation (PyTorch's approximate='tanh'). */
  gelu: (a: EwExpr | number) => unary('gelu', a),
  /** GELU, exact (erf) form (PyTorch's default). */
  geluErf: (a: EwExpr | number) => unary('geluErf', a),
  /** `e^a`. */
  exp: (a: EwExpr | number) => unary('exp', a),
  /** `tanh(a)`. */
  tanh: (a: EwExpr | number) => unary('tanh', a),
  /** `1 / (1 + e^-a)`. */
  sigmoid: (a: EwExpr | number) => unary('sigmoid', a),
  /** `a * sigmoid(a)`. */
  silu: (a: EwExpr | number) => unary('silu', a),
} as const;

/** An expression reduced to what source generation needs. */
export interface LoweredExpression {
  /** Canonical text, scalars numbered (`add(x0,s0)`): equal texts ⇔ equal generated code. */
  readonly text: string;
  /** Number of input tensors the kernel takes: highest input index + 1. */
  readonly arity: number;
  /** Input indices the expression actually reads, ascending. */
  readonly usedInputs: readonly number[];
  /** Scalar values in parameter order (s0, s1, …): runtime arguments, not part of the source. */
  readonly scalars: readonly number[];
  /** Body of `float cuop_expr(...)`: one SSA statement per distinct node, ending with `return tN;`. */
  readonly body: readonly string[];
}

const UNARY_C: Readonly<Record<UnaryOp, (a: string) => string>> = {
  neg: (a) => `-${a}`,
  abs: (a) => `fabsf(${a})`,
  relu: (a) => `fmaxf(${a}, 0.0f)`,
  gelu: (a) => `cuop_gelu_tanh(${a})`,
  geluErf: (a) => `cuop_gelu_erf(${a})`,
  exp: (a) => `expf(${a})`,
  tanh: (a) => `tanhf(${a})`,
  sigmoid: (a) => `cuop_sigmoid(${a})`,
  silu: (a) => `${a} * cuop_sigmoid(${a})`,
};
const BINARY_C: Readonly<Record<BinaryOp, (a: string, b: string) => string>> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  maximum: (a, b) => `fmaxf(${a}, ${b})`,
  minimum: (a, b) => `fminf(${a}, ${b})`,
};

/**
 * Walk the expression depth-first, left to right: number the scalars, and emit one SSA statement per distinct
 * sub-expression (a reused node object, or a structurally equal one, is computed once). Deterministic: the same
 * expression always gives the same text and body.
 */
export function lowerExpression(expr: EwExpr): LoweredExpression {
  const scalars: number[] = [];
  const used = new Set<number>();
  const body: string[] = [];
  const byNode = new Map<EwNode, { name: string; text: string }>();
  const byText = new Map<string, string>();

  const visit = (n: EwNode): { name: string; text: string } => {
    const seen = byNode.get(n);
    if (seen) return seen;
    let r: { name: string; text: string };
    if (n.kind === 'input') {
      used.add(n.index);
      r = { name: `x${n.index}`, text: `x${n.index}` };
    } else if (n.kind === 'scalar') {
      const name = `s${scalars.length}`;
      scalars.push(n.value);
      r = { name, text: name };
    } else {
      let text: string;
      let code: string;
      if (n.kind === 'unary') {
        const a = visit(n.a);
        text = `${n.op}(${a.text})`;
        code = UNARY_C[n.op](a.name);
      } else {
        const a = visit(n.a);
        const b = visit(n.b);
        text = `${n.op}(${a.text},${b.text})`;
        code = BINARY_C[n.op](a.name, b.name);
      }
      let name = byText.get(text);
      if (name === undefined) {
        name = `t${byText.size}`;
        byText.set(text, name);
        body.push(`float ${name} = ${code};`);
      }
      r = { name, text };
    }
    byNode.set(n, r);
    return r;
  };

  const root = visit(expr.node);
  body.push(`return ${root.name};`);
  const usedInputs = [...used].sort((a, b) => a - b);
  if (usedInputs.length === 0) {
    throw new TypeError(`elementwise expression ${root.text} reads no input; use ew.input(i) at least once`);
  }
  return {
    text: root.text,
    arity: (usedInputs[usedInputs.length - 1] as number) + 1,
    usedInputs,
    scalars,
    body,
  };
}

/** Elements per 16-byte vector for a dtype: 4 for float32, 8 for float16/bfloat16. */
export function vectorWidth(dtype: DType): number {
  return VECTOR_BYTES / DTYPE_BYTES[dtype];
}

/** Short dtype tag used in kernel names. */
export const DTYPE_TAG: Readonly<Record<DType, string>> = {
  float32: 'f32',
  float16: 'f16',
  bfloat16: 'bf16',
};

/**
 * The part every generated source starts with (prelude.cuh): CUOP_NEG_INF, the fp16/bf16 header where needed, `T` (the
 * storage type), f32 conversions, and `cuop_vec`, the 16-byte aligned vector of `vec` elements (when vec > 1).
 */
export function dtypePrelude(dtype: DType, vec: number): string {
  if (vec > 1 && vec * DTYPE_BYTES[dtype] !== VECTOR_BYTES) {
    throw new RangeError(`vector width ${vec} of ${dtype} is not ${VECTOR_BYTES} bytes`);
  }
  return cudaLines('prelude.cuh', {
    DTYPE: cudaLines(`prelude-${dtype}.cuh`),
    VECTOR: vec > 1 ? cudaLines('prelude-vector.cuh', { BYTES: VECTOR_BYTES, VEC: vec }) : [],
  }).join('\n');
}

// The device functions an expression may call, in the order they are emitted, and their templates.
/** Which file defines each device function a lowered body may call (GELU, sigmoid). */
export type HelperFiles = readonly (readonly [call: string, file: string])[];

const HELPERS: HelperFiles = [
  ['cuop_gelu_tanh(', 'ew-gelu-tanh.cuh'],
  ['cuop_gelu_erf(', 'ew-gelu-erf.cuh'],
  ['cuop_sigmoid(', 'ew-sigmoid.cuh'],
];

/**
 * The device functions (GELU, sigmoid) that an expression's lowered body calls, as source lines: the elementwise
 * ops' ew-*.cuh unless another table (a GEMM epilogue's cheaper ones) is given.
 */
export function helpersFor(body: readonly string[], files: HelperFiles = HELPERS): string[] {
  const code = body.join('\n');
  return files.filter(([call]) => code.includes(call)).flatMap(([, file]) => cudaLines(file));
}

/** What elementwiseSource generates a kernel for: the expression, the dtype and the vector width. */
export interface ElementwiseSourceOptions {
  readonly expr: EwExpr | LoweredExpression;
  readonly dtype: DType;
  /** Elements per vector access: 1 (scalar grid-stride loop) or the dtype's 16-byte width (vectorWidth(dtype)). */
  readonly vec: number;
}

/** A generated elementwise kernel: its source, its name, the lowered expression and its parameters. */
export interface ElementwiseSource {
  readonly source: string;
  /** `extern "C"` kernel name. */
  readonly name: string;
  readonly lowered: LoweredExpression;
  /**
   * Kernel parameters: `(T* out, const T* in0, …, const T* in{arity-1}, float s0, …, long long n)`.
   */
  readonly signature: readonly ('ptr' | 'f32' | 'i64')[];
}

/**
 * One elementwise kernel: `out[i] = expr(in0[i], in1[i], …, s0, s1, …)` for i < n. With vec > 1, a grid-stride loop
 * over 16-byte vectors (all pointers must be 16-byte aligned) followed by the scalar tail n - n % vec … n - 1; with
 * vec = 1, a scalar grid-stride loop.
 */
export function elementwiseSource(opts: ElementwiseSourceOptions): ElementwiseSource {
  const { dtype, vec } = opts;
  const lowered = opts.expr instanceof EwExpr ? lowerExpression(opts.expr) : opts.expr;
  if (vec !== 1 && vec !== vectorWidth(dtype)) {
    throw new RangeError(`vec must be 1 or ${vectorWidth(dtype)} for ${dtype}, got ${vec}`);
  }
  const name = `cuop_ew_${DTYPE_TAG[dtype]}_v${vec}`;
  const inputs = Array.from({ length: lowered.arity }, (_, i) => i);
  const scalarNames = lowered.scalars.map((_, i) => `s${i}`);
  const exprParams = [
    ...lowered.usedInputs.map((i) => `float x${i}`),
    ...scalarNames.map((s) => `float ${s}`),
  ];
  const call = (load: (i: number) => string) =>
    `cuop_expr(${[...lowered.usedInputs.map((i) => `cuop_to_f32(${load(i)})`), ...scalarNames].join(', ')})`;

  const kernelParams = [
    'T* __restrict__ out',
    ...inputs.map((i) => `const T* __restrict__ in${i}`),
    ...scalarNames.map((s) => `float ${s}`),
    'long long n',
  ];

  const used = lowered.usedInputs;
  const source = fillCuda('elementwise.cu', {
    EXPR_TEXT: lowered.text,
    DTYPE: dtype,
    VEC: vec,
    PRELUDE: dtypePrelude(dtype, vec),
    HELPERS: helpersFor(lowered.body),
    EXPR_PARAMS: exprParams.join(', '),
    EXPR_BODY: lowered.body.map((l) => `  ${l}`),
    BLOCK: ELEMENTWISE_BLOCK,
    NAME: name,
    KERNEL_PARAMS: kernelParams.join(', '),
    VECTOR_LOOP:
      vec > 1
        ? cudaLines('ew-vector-loop.cuh', {
            VEC: vec,
            VECTOR_VIEWS: used.map(
              (i) => `  const cuop_vec* __restrict__ vin${i} = reinterpret_cast<const cuop_vec*>(in${i});`,
            ),
            VECTOR_LOADS: used.map((i) => `    const cuop_vec a${i} = vin${i}[i];`),
            VECTOR_CALL: call((i) => `a${i}.v[j]`),
          })
        : [],
    TAIL_START: vec > 1 ? `nvec * ${vec} + tid` : 'tid',
    SCALAR_CALL: call((i) => `in${i}[i]`),
  });

  return {
    source,
    name,
    lowered,
    signature: ['ptr', ...inputs.map(() => 'ptr' as const), ...scalarNames.map(() => 'f32' as const), 'i64'],
  };
}
