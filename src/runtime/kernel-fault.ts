// A kernel that faulted on the device (a device-side assert, an illegal address) is reported by whatever driver
// call comes next, long after its launch returned. These errors are sticky: the context is unusable from then on.
// They are turned into one typed error naming the last kernel launched on the device and saying how to go on.
import { attachDetails, CudaError, CuopError, registerErrorClass } from '../cuda/index.js';

/** The driver's errors that mean a kernel faulted and the context is lost. */
const STICKY: ReadonlySet<string> = new Set([
  'CUDA_ERROR_ASSERT',
  'CUDA_ERROR_ILLEGAL_ADDRESS',
  'CUDA_ERROR_LAUNCH_FAILED',
  'CUDA_ERROR_ILLEGAL_INSTRUCTION',
  'CUDA_ERROR_MISALIGNED_ADDRESS',
  'CUDA_ERROR_INVALID_ADDRESS_SPACE',
  'CUDA_ERROR_INVALID_PC',
  'CUDA_ERROR_HARDWARE_STACK_ERROR',
  'CUDA_ERROR_LAUNCH_TIMEOUT',
  'CUDA_ERROR_TENSOR_MEMORY_LEAK',
]);

/** What a device needs to say which kernel it was: the last one launched on it. */
export interface FaultSite {
  readonly ordinal: number;
  lastKernel: string | undefined;
  fault: KernelFaultError | undefined;
}

/**
 * A kernel faulted on the device (CUDA_ERROR_ILLEGAL_ADDRESS and friends). The context is unusable: every later
 * call on it fails. device.reset() gives the device a fresh context (buffers, streams and kernels of the old one
 * are gone; the JIT reloads its kernels from the cache).
 */
export class KernelFaultError extends CuopError {
  override readonly name: string = 'KernelFaultError';
  declare readonly kernel: string | undefined;
  declare readonly symbol: string;
  constructor(message: string, kernel: string | undefined, cause: CudaError) {
    super(message, { cause });
    attachDetails(this, { kernel, symbol: cause.symbol, call: cause.call });
  }
}
registerErrorClass('KernelFaultError', KernelFaultError);

/** A device-side `assert()` failed in a kernel (CUDA_ERROR_ASSERT). The device printed the assert's message. */
export class DeviceAssertError extends KernelFaultError {
  override readonly name = 'DeviceAssertError';
}
registerErrorClass('DeviceAssertError', DeviceAssertError);

/** `err` as a KernelFaultError when it is one of the sticky errors (remembered on the device); else as it is. */
export function asKernelFault(err: unknown, site: FaultSite, afterReset = false): unknown {
  if (!(err instanceof CudaError) || !STICKY.has(err.symbol)) return err;
  if (site.fault) return site.fault;
  const who = site.lastKernel
    ? `kernel ${site.lastKernel} (the last launched on device ${site.ordinal}, or one queued before it)`
    : `a kernel on device ${site.ordinal}`;
  const what =
    err.symbol === 'CUDA_ERROR_ASSERT'
      ? 'hit a device-side assert (its message, with file, line, block and thread, was printed by the device)'
      : `faulted on the device: ${err.symbol}`;
  const message = afterReset
    ? `${who} ${what}; device.reset() did not clear it: this driver keeps the error for the whole process ` +
      `(${err.call} fails too). Restart the process; compute-sanitizer finds the faulting line.`
    : `${who} ${what}, reported by ${err.call}. The device's context is now unusable: every call on it fails. ` +
      'Call device.reset() for a fresh context (buffers, streams and loaded kernels of the old one are gone), or ' +
      'restart the process. compute-sanitizer finds the faulting line.';
  const fault =
    err.symbol === 'CUDA_ERROR_ASSERT'
      ? new DeviceAssertError(message, site.lastKernel, err)
      : new KernelFaultError(message, site.lastKernel, err);
  site.fault = fault;
  return fault;
}
