// Shared by the GPU suite: skip with a printed reason where there is no driver, fresh random inputs, error norms.
import { driverAvailable } from '../src/cuda/driver.js';
import { nvrtcAvailable } from '../src/cuda/nvrtc.js';

export const gpuSkipReason: string | false = (() => {
  if (!driverAvailable()) return 'no CUDA driver on this host (libcuda.so.1 not loadable or cuInit failed)';
  if (!nvrtcAvailable()) return 'no libnvrtc on this host';
  return false;
})();
if (gpuSkipReason) console.log(`# GPU suite skipped: ${gpuSkipReason}`);

/** Deterministic-per-call but fresh-per-run random numbers in [-1, 1). */
export function randomArray(n: number, seed = (Math.random() * 2 ** 32) >>> 0): Float32Array {
  let s = seed || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return a;
}

/** ‖out − ref‖₂ / ‖ref‖₂; NaN anywhere gives Infinity. */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length ${out.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i] as number;
    const r = ref[i] as number;
    if (Number.isNaN(o)) return Infinity;
    num += (o - r) ** 2;
    den += r * r;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}

/** A quiet NaN bit pattern to poison float32 outputs before a kernel writes them. */
export const NAN_F32_BITS = 0x7fc00000;
