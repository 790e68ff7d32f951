// The compiler layer's public API: one interface, two backends (NVRTC in-process, nvcc subprocess), and selection.
export type * from './types.js';
export { CompileError, CompilerUnavailableError } from './errors.js';
export { NvccCompiler, findNvcc, nvccEnvFlags, type NvccCompilerOptions } from './nvcc-compiler.js';
export { NvrtcCompiler, type NvrtcCompilerOptions } from './nvrtc-compiler.js';
export {
  selectCompiler,
  parseArch,
  archFromOptions,
  archName,
  resolveTarget,
  sourceFileName,
  checkRequest,
  type CompilerPreference,
  type SelectCompilerOptions,
  type ResolvedTarget,
} from './select.js';
export { canonicalKernelName, canonicalKernelNames, KernelNameError } from './names.js';
export {
  absolutizePathOptions,
  includeOptions,
  NVCC_DIALECT,
  NVRTC_DIALECT,
  type OptionDialect,
} from './options.js';
export type { KernelParam, ParamKind } from './kernel-signature.js';
export type { FileDependency, UntrackedInclude } from './include-scan.js';
export {
  detectLinkInputKind,
  isRelocatable,
  LinkError,
  LinkerUnavailableError,
  LINK_INPUT_KINDS,
  type LinkInput,
  type LinkInputKind,
  type Linker,
  type LinkerId,
  type LinkerInfo,
  type LinkRequest,
  type LinkResult,
} from './linker.js';
export { NvJitLinkLinker } from './nvjitlink-linker.js';
export { NvlinkLinker, type NvlinkLinkerOptions } from './nvlink-linker.js';
export { selectLinker, type LinkerPreference } from './select-linker.js';
