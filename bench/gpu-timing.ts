// Shared by the GEMM benchmarks: CUDA-event timing of back-to-back forwards, and a provider that records which
// kernels a forward asked for (so a table can name the kernel family that ran).
import { defaultKernelProvider } from '../src/jit/default-provider.js';
import type { KernelProvider } from '../src/jit/types.js';
import type { Device } from '../src/runtime/index.js';

/** Milliseconds per call of `run`: 3 warm-up calls, then the median of 5 trials of `iters` calls timed with events. */
export async function medianEventMs(
  device: Device,
  run: () => Promise<void>,
  iters: number,
): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  device.synchronize();
  const start = device.createEvent({ timing: true });
  const end = device.createEvent({ timing: true });
  const trials: number[] = [];
  for (let t = 0; t < 5; t++) {
    start.record();
    for (let i = 0; i < iters; i++) await run();
    end.record();
    end.synchronize();
    trials.push(end.elapsedSince(start) / iters);
  }
  start.dispose();
  end.dispose();
  return trials.sort((a, b) => a - b)[2] as number;
}

/** The default provider, pushing each requested kernel's name onto `names`. */
export function recordingProvider(names: string[]): KernelProvider {
  return {
    kernel: (spec, dev) => {
      names.push(spec.name);
      return defaultKernelProvider().kernel(spec, dev);
    },
  };
}
