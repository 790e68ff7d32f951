import type { KernelProvider } from './types.js';

/** The JIT used by operators called without a JitWrapper. (Being wired to GlobalJitManager.) */
export function defaultKernelProvider(): KernelProvider {
  throw new Error('cuop: the global JIT is not wired yet');
}
