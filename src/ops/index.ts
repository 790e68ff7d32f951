// The operators' public API.
export {
  Tensor,
  ShapeError,
  contiguousStrides,
  encodeHost,
  decodeHost,
  DTYPE_BYTES,
  DTYPE_CTYPE,
  type DType,
} from './tensor.js';
export type { Operator, ForwardOptions } from './operator.js';
export {
  ew,
  EwExpr,
  lowerExpression,
  elementwiseSource,
  vectorWidth,
  type EwNode,
  type UnaryOp,
  type BinaryOp,
  type LoweredExpression,
  type ElementwiseSource,
  type ElementwiseSourceOptions,
} from './elementwise-source.js';
export {
  Elementwise,
  Add,
  Mul,
  Relu,
  Gelu,
  elementwise,
  add,
  mul,
  relu,
  gelu,
  type ElementwiseOptions,
} from './elementwise.js';
export {
  reduceSource,
  rowKernelShape,
  type ReduceOp,
  type RowKernelShape,
  type ReduceSource,
  type ReduceSourceOptions,
} from './reduce-source.js';
export { Reduce, sum, max } from './reduce.js';
export { softmaxSource, type SoftmaxSource, type SoftmaxSourceOptions } from './softmax-source.js';
export { Softmax, softmax } from './softmax.js';
export {
  Gemm,
  gemm,
  gemmEpilogue,
  type GemmOptions,
  type GemmProblem,
  type GemmEpilogueCall,
} from './gemm.js';
export {
  GemmEpilogueError,
  gemmEpilogueCode,
  lowerGemmEpilogue,
  epilogueText,
  type GemmActivation,
  type GemmEpilogue,
  type GemmEpilogueCode,
  type GemmEpilogueOperands,
  type GemmEpilogueOptions,
} from './gemm-epilogue.js';
export {
  tune,
  tuningStats,
  tuningRecordSpec,
  configDigest,
  candidateSetDigest,
  canonicalJson,
  emptyTuningStats,
  MemoryRecordStore,
  OPS_CODEGEN_EPOCH,
  TUNING_SCHEMA,
  TUNE_MODES,
  type TuneMode,
  type TuneOptions,
  type TuneOutcome,
  type TuningIdentity,
  type TuningProblem,
  type TuningRecordKind,
  type TuningRecordStore,
  type TuningStats,
} from './tune.js';
export { gemmCandidates, gemmTuningProblem, pow2Bucket } from './gemm-tune.js';
