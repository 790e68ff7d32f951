export {
  JitCompiler,
  JitModule,
  JitDisabledError,
  type JitExplanation,
  type JitCompilerOptions,
  type WarmOptions,
  type WarmReport,
} from './jit-compiler.js';
export { defaultKernelProvider } from './default-provider.js';
export type { KernelSpec, ModuleSpec, KernelProvider } from './types.js';
