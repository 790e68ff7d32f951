// The seed's JitWrapper: wraps an operator so its kernels come from a (possibly private) persistent cache. Calls
// through the wrapper and calls on the bare operator behave the same; only where the kernels are cached differs.
import { resolve } from 'node:path';

import type { JitCompiler } from '../jit/index.js';
import type { ForwardOptions, Operator } from '../ops/operator.js';
import type { Tensor } from '../ops/tensor.js';
import { GlobalJitManager } from './global.js';

/**
 * Runs an operator with kernels from a cache of its choosing: the global one, a directory of its own, or memory only.
 */
export class JitWrapper<Op extends Operator> {
  private persistent = true;
  private dir: string | undefined;

  constructor(readonly op: Op) {}

  /** On (default): kernels persist on disk. Off: the JIT still compiles, but keeps kernels in memory only. */
  enablePersistentCache(on: boolean): this {
    this.persistent = on;
    return this;
  }

  /** Use this directory for the wrapper's persistent cache instead of the global one. */
  setPersistentCacheDirectory(dir: string): this {
    this.dir = resolve(dir);
    return this;
  }

  /** Whether kernels persist on disk (see enablePersistentCache). */
  get persistentCacheEnabled(): boolean {
    return this.persistent;
  }

  /** The JIT this wrapper's operator gets its kernels from (following the global enableJit and compiler). */
  get jit(): JitCompiler {
    const global = GlobalJitManager.instance();
    if (!this.persistent) return global.jitFor(null);
    return this.dir === undefined ? global.jit() : global.jitFor(this.dir);
  }

  /** Run the operator with kernels from this wrapper's cache; same signature and results as op.forward. */
  forward(inputs: readonly Tensor[], outputs: readonly Tensor[], options: Omit<ForwardOptions, 'jit'> = {}) {
    return this.op.forward(inputs, outputs, { ...options, jit: this.jit });
  }
}
