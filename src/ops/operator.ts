import type { KernelProvider } from '../jit/types.js';
import type { Stream } from '../runtime/index.js';
import type { Tensor } from './tensor.js';

/** How an operator gets its kernels and where it queues them. */
export interface ForwardOptions {
  /** Source of kernels; default: the global JIT (GlobalJitManager). JitWrapper sets its own. */
  readonly jit?: KernelProvider;
  readonly stream?: Stream;
}

/**
 * An operator: validates shapes and dtypes before any launch, generates a CUDA source specialized on them,
 * gets the kernel from the JIT (and so from the cache), and launches it.
 */
export interface Operator {
  readonly name: string;
  /**
   * Validates `inputs` and `outputs` (throws ShapeError before any launch), then queues the kernel on the stream;
   * resolves once it is queued.
   */
  forward(inputs: readonly Tensor[], outputs: readonly Tensor[], options?: ForwardOptions): Promise<void>;
}
