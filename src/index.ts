// cuop: CUDA JIT compilation for Node.js with a persistent kernel cache and runtime-specialized operators.
export * from './cuda/errors.js';
export { KernelParamBlock, type ParamType } from './cuda/index.js';
export * from './compiler/index.js';
export * from './runtime/index.js';
export type { KernelSpec, KernelProvider } from './jit/types.js';
