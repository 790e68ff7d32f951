export {
  JitCompiler,
  JitModule,
  JitDisabledError,
  type CheckResult,
  type JitExplanation,
  type JitCompilerOptions,
  type WarmOptions,
  type WarmReport,
} from './jit-compiler.js';
export { defaultKernelProvider } from './default-provider.js';
export type { KernelSpec, ModuleSpec, KernelProvider, LinkSpec, LinkProgram, LinkObject } from './types.js';
export {
  entryDigest,
  entryLine,
  parseSpecRecord,
  readManifest,
  readSpecFile,
  SpecRecorder,
  type SpecEntry,
} from './spec-manifest.js';
