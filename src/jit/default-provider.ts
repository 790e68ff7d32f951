// The JIT an operator uses when called without one (no `jit` in its options). The process-wide configuration that
// chooses it, GlobalJitManager, lives in src/api, above the operators, so this layer cannot import it: the api layer
// hands its JIT in with setDefaultKernelProvider() as it loads (the package entry always loads it). Code that loads
// the operators but never the api (the GPU tests of src/ops, bench/gemm) gets a JitCompiler of this module's own,
// built with the defaults GlobalJitManager starts from: the default cache dir and CUOP_* environment, compiler
// 'auto', compiling allowed.
import { JitCompiler } from './jit-compiler.js';
import type { KernelProvider } from './types.js';

let registered: (() => KernelProvider) | undefined;
let fallback: JitCompiler | undefined;

/**
 * Make `provider` (called on every use, so it can follow configuration changes) the operators' default JIT; undefined
 * goes back to the built-in default. Not part of the public API: src/api calls it once, as it loads.
 */
export function setDefaultKernelProvider(provider: (() => KernelProvider) | undefined): void {
  registered = provider;
  if (provider && fallback) {
    void fallback.cache.close(); // kernels handed out stay loaded
    fallback = undefined;
  }
}

/** The JIT used by operators called without a JitWrapper: the process-wide one. */
export function defaultKernelProvider(): KernelProvider {
  if (registered) return registered();
  fallback ??= new JitCompiler();
  return fallback;
}
