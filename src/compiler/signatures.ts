// Each kernel's parameters as the compiled code declares them, for the cache metadata and launch checks.
import type { KernelParam } from './kernel-signature.js';

/**
 * Entry name (lowered) → its parameters, for every kernel in the PTX. The parser is loaded on the first compile:
 * a process whose kernels all come from the cache never parses it.
 */
export async function signaturesOf(ptx: string): Promise<Record<string, KernelParam[]>> {
  const { kernelParams, ptxEntryParams } = await import('./kernel-signature.js');
  const out: Record<string, KernelParam[]> = {};
  for (const name of ptxEntryParams(ptx).keys()) {
    const params = kernelParams(ptx, name);
    if (params) out[name] = params;
  }
  return out;
}
