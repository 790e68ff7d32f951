export {
  JitCompiler,
  JitModule,
  JitDisabledError,
  type JitExplanation,
  type JitCompilerOptions,
  type WarmOptions,
  type WarmReport,
} from './jit-compiler.js';
export { JitWrapper } from './wrapper.js';
export { GlobalJitManager, GlobalPersistentCacheManager, type GlobalJitConfig } from './global.js';
export { CachePolicy, type CachePolicyFields } from './cache-policy.js';
export { defaultKernelProvider } from './default-provider.js';
export type { KernelSpec, ModuleSpec, KernelProvider } from './types.js';
