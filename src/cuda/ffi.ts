// koffi, configured before any library is loaded (it refuses afterwards). Native calls run on koffi's own stacks:
// by default 128 KiB for async calls and 2 MiB for sync ones. NVRTC's compile and nvJitLink's link (NVVM and ptxas
// inside) run async, and the driver's PTX JIT runs inside a sync cuModuleLoadData: a dynamic-parallelism link
// overflowed 128 KiB and segfaulted the process on the H200. 8 MiB is what these libraries get on an ordinary
// thread; the stacks are mmap'd, so pages never touched cost nothing.
import koffi from 'koffi';

const STACK_BYTES = 8 * 2 ** 20;

/** Why the stacks could not be enlarged (koffi was used by another module first), or undefined when they were. */
export let ffiStackProblem: string | undefined;
try {
  const current = koffi.config();
  const wanted: Record<string, number> = {};
  if ((current.sync_stack_size ?? 0) < STACK_BYTES) wanted['sync_stack_size'] = STACK_BYTES;
  if ((current.async_stack_size ?? 0) < STACK_BYTES) wanted['async_stack_size'] = STACK_BYTES;
  if (Object.keys(wanted).length > 0) koffi.config({ ...current, ...wanted });
} catch (e) {
  ffiStackProblem =
    `koffi's native call stacks stay at ${JSON.stringify(koffi.config())}: ${(e as Error).message}. ` +
    'Large compiles or links may crash; import cuop before other modules that use koffi.';
}

export { koffi };
