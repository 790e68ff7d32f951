// Each kernel's parameters as the compiled code declares them, for the cache metadata and launch checks.
import { kernelParams, ptxEntryParams, type KernelParam } from './kernel-signature.js';

/** Entry name (lowered) → its parameters, for every kernel in the PTX. */
export function signaturesOf(ptx: string): Record<string, KernelParam[]> {
  const out: Record<string, KernelParam[]> = {};
  for (const name of ptxEntryParams(ptx).keys()) {
    const params = kernelParams(ptx, name);
    if (params) out[name] = params;
  }
  return out;
}
