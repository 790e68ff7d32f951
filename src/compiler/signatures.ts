// Each kernel's parameters as the compiled code declares them, for the cache metadata and launch checks.
import type { KernelParam } from './kernel-signature.js';

/**
 * Entry name (lowered) → its parameters, for every kernel in the PTX. The parser is loaded on the first compile:
 * a process whose kernels all come from the cache never parses it.
 */
export async function signaturesOf(ptx: string): Promise<Record<string, KernelParam[]>> {
  const { refinedParams, ptxEntryParams } = await import('./kernel-signature.js');
  const out: Record<string, KernelParam[]> = {};
  const entries = ptxEntryParams(ptx);
  for (const name of entries.keys()) {
    const params = refinedParams(entries, name);
    if (params) out[name] = params;
  }
  return out;
}
