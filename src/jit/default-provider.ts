import { GlobalJitManager } from './global.js';
import type { KernelProvider } from './types.js';

/** The JIT used by operators called without a JitWrapper: the process-wide one. */
export function defaultKernelProvider(): KernelProvider {
  return GlobalJitManager.instance().jit();
}
