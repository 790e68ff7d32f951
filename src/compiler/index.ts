// The compiler layer's public API: one interface, two backends (NVRTC in-process, nvcc subprocess), and selection.
export type * from './types.js';
export { CompileError, CompilerUnavailableError } from './errors.js';
export { NvccCompiler, findNvcc, nvccEnvFlags, type NvccCompilerOptions } from './nvcc-compiler.js';
export { NvrtcCompiler, type NvrtcCompilerOptions } from './nvrtc-compiler.js';
export {
  selectCompiler,
  parseArch,
  archName,
  resolveTarget,
  type CompilerPreference,
  type SelectCompilerOptions,
  type ResolvedTarget,
} from './select.js';
