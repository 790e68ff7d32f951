// Bindings to the CUDA driver API (libcuda.so.1). Opened on first use, so importing cuop never needs a GPU.
// Handles (CUcontext, CUmodule, CUfunction, CUstream, CUevent) are opaque bigints; device pointers are bigints.
import { koffi } from './ffi.js';
import type * as Koffi from 'koffi';

import { CudaError } from './errors.js';
import { LazyLibrary } from './lazy-library.js';
import { DRIVER_LIBRARY, openFirst } from './library-discovery.js';

export type Handle = bigint;
export type DevicePtr = bigint;

/** CUdevice_attribute values cuop reads. */
export const DeviceAttribute = {
  MaxThreadsPerBlock: 1,
  MaxSharedMemoryPerBlock: 8,
  WarpSize: 10,
  ClockRate: 13,
  MultiprocessorCount: 16,
  PciBusId: 33,
  ComputeCapabilityMajor: 75,
  ComputeCapabilityMinor: 76,
  MaxSharedMemoryPerBlockOptin: 97,
  MemoryPoolsSupported: 115,
} as const;

/** CUfunction_attribute values. */
export const FunctionAttribute = {
  MaxThreadsPerBlock: 0,
  SharedSizeBytes: 1,
  ConstSizeBytes: 2,
  LocalSizeBytes: 3,
  NumRegs: 4,
  PtxVersion: 5,
  BinaryVersion: 6,
  MaxDynamicSharedSizeBytes: 8,
} as const;

const CUDA_ERROR_INVALID_VALUE = 1;

// koffi's function type, loosely typed: each binding is checked by `check` below.
type Fn = ReturnType<Koffi.LibraryHandle['func']>;

interface RawDriver {
  path: string;
  cuInit: Fn;
  cuDriverGetVersion: Fn;
  cuGetErrorName: Fn;
  cuGetErrorString: Fn;
  cuDeviceGetCount: Fn;
  cuDeviceGet: Fn;
  cuDeviceGetName: Fn;
  cuDeviceGetAttribute: Fn;
  cuDeviceTotalMem: Fn;
  cuDevicePrimaryCtxRetain: Fn;
  cuDevicePrimaryCtxRelease: Fn;
  cuDevicePrimaryCtxReset: Fn;
  cuCtxSetCurrent: Fn;
  cuCtxGetCurrent: Fn;
  cuCtxGetCurrentInto: Fn;
  cuCtxSynchronize: Fn;
  cuModuleLoadData: Fn;
  cuModuleUnload: Fn;
  cuModuleGetFunction: Fn;
  cuModuleGetGlobal: Fn;
  cuFuncGetAttribute: Fn;
  cuFuncSetAttribute: Fn;
  cuFuncGetParamInfo: Fn | undefined;
  cuMemAlloc: Fn;
  cuMemFree: Fn;
  /** Stream-ordered allocation (CUDA 11.2+): absent on older drivers. */
  cuMemAllocAsync: Fn | undefined;
  cuMemFreeAsync: Fn | undefined;
  cuDeviceGetDefaultMemPool: Fn | undefined;
  cuMemPoolSetAttribute: Fn | undefined;
  cuMemGetInfo: Fn;
  cuMemcpyHtoD: Fn;
  cuMemcpyDtoH: Fn;
  cuMemcpyDtoD: Fn;
  cuMemcpyHtoDAsync: Fn;
  cuMemcpyDtoHAsync: Fn;
  cuMemsetD8: Fn;
  cuMemsetD32: Fn;
  cuStreamCreate: Fn;
  cuStreamDestroy: Fn;
  cuStreamSynchronize: Fn;
  cuStreamQuery: Fn;
  cuEventCreate: Fn;
  cuEventDestroy: Fn;
  cuEventRecord: Fn;
  cuEventSynchronize: Fn;
  cuEventElapsedTime: Fn;
  /** cuLaunchKernel with kernelParams taken as one pre-packed `void*[]` block (see kernel-params.ts). */
  cuLaunchKernel: Fn;
  cuLaunchKernelAt: Fn;
  /** cuLaunchKernelEx with a CUlaunchConfig packed into a Buffer (launch-config.ts); absent before CUDA 12. */
  cuLaunchKernelExAt: Fn | undefined;
  cuOccupancyMaxActiveBlocksPerMultiprocessor: Fn;
  cuOccupancyMaxActiveClustersAt: Fn | undefined;
  /** TMA descriptors (CUDA 12.0+): absent on older drivers. */
  cuTensorMapEncodeTiled: Fn | undefined;
}

let initialized = false;

const library = new LazyLibrary(bindLibrary);
const bind = (): RawDriver => library.get();

function bindLibrary(): RawDriver {
  const { handle: lib, path } = openFirst(DRIVER_LIBRARY, (p) => koffi.load(p));
  const f = (proto: string): Fn => lib.func(proto);
  const optional = (proto: string): Fn | undefined => {
    try {
      return lib.func(proto);
    } catch {
      return undefined; // older driver without this symbol
    }
  };
  return {
    path,
    cuInit: f('int cuInit(uint32_t flags)'),
    cuDriverGetVersion: f('int cuDriverGetVersion(_Out_ int *version)'),
    cuGetErrorName: f('int cuGetErrorName(int error, _Out_ const char **str)'),
    cuGetErrorString: f('int cuGetErrorString(int error, _Out_ const char **str)'),
    cuDeviceGetCount: f('int cuDeviceGetCount(_Out_ int *count)'),
    cuDeviceGet: f('int cuDeviceGet(_Out_ int *device, int ordinal)'),
    cuDeviceGetName: f('int cuDeviceGetName(char *name, int len, int dev)'),
    cuDeviceGetAttribute: f('int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)'),
    cuDeviceTotalMem: f('int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)'),
    cuDevicePrimaryCtxRetain: f('int cuDevicePrimaryCtxRetain(_Out_ void **pctx, int dev)'),
    cuDevicePrimaryCtxRelease: f('int cuDevicePrimaryCtxRelease_v2(int dev)'),
    cuDevicePrimaryCtxReset: f('int cuDevicePrimaryCtxReset_v2(int dev)'),
    cuCtxSetCurrent: f('int cuCtxSetCurrent(void *ctx)'),
    cuCtxGetCurrent: f('int cuCtxGetCurrent(_Out_ void **pctx)'),
    // The same call writing into a caller's BigUint64Array(1): no allocation, for the per-launch context check.
    cuCtxGetCurrentInto: f('int cuCtxGetCurrent(uint64_t *pctx)'),
    cuCtxSynchronize: f('int cuCtxSynchronize()'),
    cuModuleLoadData: f('int cuModuleLoadData(_Out_ void **module, const void *image)'),
    cuModuleUnload: f('int cuModuleUnload(void *module)'),
    cuModuleGetFunction: f('int cuModuleGetFunction(_Out_ void **func, void *module, const char *name)'),
    cuModuleGetGlobal: f(
      'int cuModuleGetGlobal_v2(_Out_ uint64_t *dptr, _Out_ size_t *bytes, void *module, const char *name)',
    ),
    cuFuncGetAttribute: f('int cuFuncGetAttribute(_Out_ int *value, int attrib, void *func)'),
    cuFuncSetAttribute: f('int cuFuncSetAttribute(void *func, int attrib, int value)'),
    cuFuncGetParamInfo: optional(
      'int cuFuncGetParamInfo(void *func, size_t index, _Out_ size_t *offset, _Out_ size_t *size)',
    ),
    cuMemAlloc: f('int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)'),
    cuMemFree: f('int cuMemFree_v2(uint64_t dptr)'),
    cuMemAllocAsync: optional('int cuMemAllocAsync(_Out_ uint64_t *dptr, size_t bytes, void *stream)'),
    cuMemFreeAsync: optional('int cuMemFreeAsync(uint64_t dptr, void *stream)'),
    cuDeviceGetDefaultMemPool: optional('int cuDeviceGetDefaultMemPool(_Out_ void **pool, int dev)'),
    cuMemPoolSetAttribute: optional('int cuMemPoolSetAttribute(void *pool, int attr, void *value)'),
    cuMemGetInfo: f('int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)'),
    cuMemcpyHtoD: f('int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)'),
    cuMemcpyDtoH: f('int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)'),
    cuMemcpyDtoD: f('int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)'),
    cuMemcpyHtoDAsync: f(
      'int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream)',
    ),
    cuMemcpyDtoHAsync: f('int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)'),
    cuMemsetD8: f('int cuMemsetD8_v2(uint64_t dst, uint8_t value, size_t count)'),
    cuMemsetD32: f('int cuMemsetD32_v2(uint64_t dst, uint32_t value, size_t count)'),
    cuStreamCreate: f('int cuStreamCreate(_Out_ void **stream, uint32_t flags)'),
    cuStreamDestroy: f('int cuStreamDestroy_v2(void *stream)'),
    cuStreamSynchronize: f('int cuStreamSynchronize(void *stream)'),
    cuStreamQuery: f('int cuStreamQuery(void *stream)'),
    cuEventCreate: f('int cuEventCreate(_Out_ void **event, uint32_t flags)'),
    cuEventDestroy: f('int cuEventDestroy_v2(void *event)'),
    cuEventRecord: f('int cuEventRecord(void *event, void *stream)'),
    cuEventSynchronize: f('int cuEventSynchronize(void *event)'),
    cuEventElapsedTime: f('int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)'),
    cuLaunchKernel: f(
      'int cuLaunchKernel(void *f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, ' +
        'uint32_t sharedMemBytes, void *stream, void *kernelParams, void *extra)',
    ),
    // The same entry points with every pointer passed as a number (an address below 2^53): koffi converts plain
    // numbers faster than pointers and bigints, and the launch path is where that shows (see bench/launch.ts).
    cuLaunchKernelAt: f(
      'int cuLaunchKernel(uint64_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, ' +
        'uint32_t sharedMemBytes, uint64_t stream, uint64_t kernelParams, uint64_t extra)',
    ),
    cuLaunchKernelExAt: optional(
      'int cuLaunchKernelEx(uint64_t config, uint64_t f, uint64_t kernelParams, uint64_t extra)',
    ),
    cuOccupancyMaxActiveBlocksPerMultiprocessor: f(
      'int cuOccupancyMaxActiveBlocksPerMultiprocessor(_Out_ int *numBlocks, void *func, int blockSize, size_t dynamicSMemSize)',
    ),
    cuOccupancyMaxActiveClustersAt: optional(
      'int cuOccupancyMaxActiveClusters(_Out_ int *numClusters, uint64_t func, uint64_t config)',
    ),
    cuTensorMapEncodeTiled: optional(
      'int cuTensorMapEncodeTiled(void *tensorMap, int dataType, uint32_t rank, uint64_t globalAddress, ' +
        'const void *globalDim, const void *globalStrides, const void *boxDim, const void *elementStrides, ' +
        'int interleave, int swizzle, int l2Promotion, int oobFill)',
    ),
  };
}

function errorName(code: number): { symbol: string; description: string } {
  const r = library.loaded;
  if (!r) return { symbol: `CUresult ${code}`, description: '' };
  const name: (string | null)[] = [null];
  const desc: (string | null)[] = [null];
  const okName = r.cuGetErrorName(code, name) === 0;
  const okDesc = r.cuGetErrorString(code, desc) === 0;
  return {
    symbol: okName && name[0] ? name[0] : `CUresult ${code}`,
    description: okDesc && desc[0] ? desc[0] : '',
  };
}

/** Throw a CudaError naming `call` unless `code` is CUDA_SUCCESS. */
export function check(code: number, call: string): void {
  if (code === 0) return;
  const { symbol, description } = errorName(code);
  throw new CudaError(code, symbol, call, description);
}

/** The bound driver, initialized (cuInit) once. Throws LibraryNotFoundError on hosts without a driver. */
export function cuda(): RawDriver {
  const r = bind();
  if (!initialized) {
    check(r.cuInit(0), 'cuInit');
    initialized = true;
  }
  return r;
}

/** True when libcuda can be opened and cuInit succeeds; never throws. */
export function driverAvailable(): boolean {
  try {
    cuda();
    return true;
  } catch {
    return false;
  }
}

const out1 = <T>(init: T): [T] => [init];

// ---- Checked wrappers: the rest of cuop calls these, never the raw bindings. ----

export function driverVersion(): number {
  const v = out1(0);
  check(cuda().cuDriverGetVersion(v), 'cuDriverGetVersion');
  return v[0];
}

export function deviceCount(): number {
  const v = out1(0);
  check(cuda().cuDeviceGetCount(v), 'cuDeviceGetCount');
  return v[0];
}

export function deviceGet(ordinal: number): number {
  const v = out1(0);
  check(cuda().cuDeviceGet(v, ordinal), 'cuDeviceGet');
  return v[0];
}

export function deviceName(dev: number): string {
  const buf = Buffer.alloc(256);
  check(cuda().cuDeviceGetName(buf, buf.length, dev), 'cuDeviceGetName');
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

export function deviceAttribute(dev: number, attribute: number): number {
  const v = out1(0);
  check(cuda().cuDeviceGetAttribute(v, attribute, dev), 'cuDeviceGetAttribute');
  return v[0];
}

export function deviceTotalMemory(dev: number): number {
  const v = out1(0);
  check(cuda().cuDeviceTotalMem(v, dev), 'cuDeviceTotalMem_v2');
  return Number(v[0]);
}

export function primaryContextRetain(dev: number): Handle {
  const v = out1<bigint | null>(null);
  check(cuda().cuDevicePrimaryCtxRetain(v, dev), 'cuDevicePrimaryCtxRetain');
  return asHandle(v[0]);
}

export function primaryContextRelease(dev: number): void {
  check(cuda().cuDevicePrimaryCtxRelease(dev), 'cuDevicePrimaryCtxRelease_v2');
}

/** Destroy every allocation and reset all state of the primary context (the way out of a sticky error). */
export function primaryContextReset(dev: number): void {
  check(cuda().cuDevicePrimaryCtxReset(dev), 'cuDevicePrimaryCtxReset_v2');
}

export function contextSetCurrent(ctx: Handle): void {
  check(cuda().cuCtxSetCurrent(ctx), 'cuCtxSetCurrent');
}

export function contextGetCurrent(): Handle {
  const v = out1<bigint | null>(null);
  check(cuda().cuCtxGetCurrent(v), 'cuCtxGetCurrent');
  return asHandle(v[0]);
}

const currentSlot = new BigUint64Array(1);
/** The current context as a bigint (0n when none), without allocating: cheap enough to call per launch. */
export function contextCurrentRaw(): bigint {
  check((library.loaded ?? cuda()).cuCtxGetCurrentInto(currentSlot), 'cuCtxGetCurrent');
  return currentSlot[0] as bigint;
}

export function contextSynchronize(): void {
  check(cuda().cuCtxSynchronize(), 'cuCtxSynchronize');
}

export function memGetInfo(): { free: number; total: number } {
  const free = out1(0);
  const total = out1(0);
  check(cuda().cuMemGetInfo(free, total), 'cuMemGetInfo_v2');
  return { free: Number(free[0]), total: Number(total[0]) };
}

/** Load a cubin, PTX (NUL-terminated) or fatbin image into the current context. */
export function moduleLoadData(image: Uint8Array): Handle {
  const v = out1<bigint | null>(null);
  check(cuda().cuModuleLoadData(v, image), 'cuModuleLoadData');
  return asHandle(v[0]);
}

export function moduleUnload(mod: Handle): void {
  check(cuda().cuModuleUnload(mod), 'cuModuleUnload');
}

export function moduleGetFunction(mod: Handle, name: string): Handle {
  const v = out1<bigint | null>(null);
  const code = cuda().cuModuleGetFunction(v, mod, name);
  check(code, `cuModuleGetFunction("${name}")`);
  return asHandle(v[0]);
}

export function moduleGetGlobal(mod: Handle, name: string): { ptr: DevicePtr; bytes: number } {
  const p = out1(0);
  const b = out1(0);
  check(cuda().cuModuleGetGlobal(p, b, mod, name), `cuModuleGetGlobal_v2("${name}")`);
  return { ptr: BigInt(p[0]), bytes: Number(b[0]) };
}

export function functionAttribute(fn: Handle, attribute: number): number {
  const v = out1(0);
  check(cuda().cuFuncGetAttribute(v, attribute, fn), 'cuFuncGetAttribute');
  return v[0];
}

export function functionSetAttribute(fn: Handle, attribute: number, value: number): void {
  check(cuda().cuFuncSetAttribute(fn, attribute, value), 'cuFuncSetAttribute');
}

/**
 * Sizes of a kernel's parameters, in order, from cuFuncGetParamInfo (driver >= 12.4).
 * Returns undefined when the driver lacks the call, so callers fall back to trusting the caller's types.
 */
export function functionParamSizes(fn: Handle): number[] | undefined {
  const r = cuda();
  if (!r.cuFuncGetParamInfo) return undefined;
  const sizes: number[] = [];
  for (let i = 0; ; i++) {
    const off = out1(0);
    const size = out1(0);
    const code = r.cuFuncGetParamInfo(fn, i, off, size);
    if (code !== 0) {
      // Past the last parameter the driver answers CUDA_ERROR_INVALID_VALUE; anything else means "can't tell".
      if (code === CUDA_ERROR_INVALID_VALUE) break;
      return undefined;
    }
    sizes.push(Number(size[0]));
  }
  return sizes;
}

export function memAlloc(bytes: number): DevicePtr {
  const v = out1(0);
  check(cuda().cuMemAlloc(v, bytes), `cuMemAlloc_v2(${bytes} bytes)`);
  return BigInt(v[0]);
}

export function memFree(ptr: DevicePtr): void {
  check(cuda().cuMemFree(ptr), 'cuMemFree_v2');
}

/** Whether this driver has the stream-ordered allocator (the device must support it too: MemoryPoolsSupported). */
export function hasStreamOrderedAllocator(): boolean {
  const r = cuda();
  return !!(r.cuMemAllocAsync && r.cuMemFreeAsync && r.cuDeviceGetDefaultMemPool && r.cuMemPoolSetAttribute);
}

/** cuMemAllocAsync from the current device's pool, ordered on `stream`. */
export function memAllocAsync(bytes: number, stream: Handle): DevicePtr {
  const v = out1(0n);
  check(cuda().cuMemAllocAsync!(v, bytes, stream), `cuMemAllocAsync(${bytes} bytes)`);
  return BigInt(v[0]);
}

export function memFreeAsync(ptr: DevicePtr, stream: Handle): void {
  check(cuda().cuMemFreeAsync!(ptr, stream), 'cuMemFreeAsync');
}

/**
 * The bytes the device's default pool keeps reserved across synchronizations (CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
 * 0 by default: everything is returned at each synchronize, and reuse across them is lost).
 */
export function setDefaultPoolReleaseThreshold(dev: number, bytes: bigint): void {
  const r = cuda();
  const pool = out1<bigint | null>(null);
  check(r.cuDeviceGetDefaultMemPool!(pool, dev), 'cuDeviceGetDefaultMemPool');
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(bytes);
  check(r.cuMemPoolSetAttribute!(asHandle(pool[0]), 4, value), 'cuMemPoolSetAttribute(RELEASE_THRESHOLD)');
}

export function memcpyHtoD(dst: DevicePtr, src: ArrayBufferView, bytes: number): void {
  check(cuda().cuMemcpyHtoD(dst, src, bytes), 'cuMemcpyHtoD_v2');
}

export function memcpyDtoH(dst: ArrayBufferView, src: DevicePtr, bytes: number): void {
  check(cuda().cuMemcpyDtoH(dst, src, bytes), 'cuMemcpyDtoH_v2');
}

export function memcpyDtoD(dst: DevicePtr, src: DevicePtr, bytes: number): void {
  check(cuda().cuMemcpyDtoD(dst, src, bytes), 'cuMemcpyDtoD_v2');
}

export function memcpyHtoDAsync(dst: DevicePtr, src: ArrayBufferView, bytes: number, stream: Handle): void {
  check(cuda().cuMemcpyHtoDAsync(dst, src, bytes, stream), 'cuMemcpyHtoDAsync_v2');
}

export function memcpyDtoHAsync(dst: ArrayBufferView, src: DevicePtr, bytes: number, stream: Handle): void {
  check(cuda().cuMemcpyDtoHAsync(dst, src, bytes, stream), 'cuMemcpyDtoHAsync_v2');
}

export function memsetD8(dst: DevicePtr, value: number, count: number): void {
  check(cuda().cuMemsetD8(dst, value, count), 'cuMemsetD8_v2');
}

export function memsetD32(dst: DevicePtr, value: number, count: number): void {
  check(cuda().cuMemsetD32(dst, value >>> 0, count), 'cuMemsetD32_v2');
}

export function streamCreate(flags = 0): Handle {
  const v = out1<bigint | null>(null);
  check(cuda().cuStreamCreate(v, flags), 'cuStreamCreate');
  return asHandle(v[0]);
}

export function streamDestroy(stream: Handle): void {
  check(cuda().cuStreamDestroy(stream), 'cuStreamDestroy_v2');
}

export function streamSynchronize(stream: Handle): void {
  check(cuda().cuStreamSynchronize(stream), 'cuStreamSynchronize');
}

/** True when all work on the stream has finished. */
export function streamQuery(stream: Handle): boolean {
  const code = cuda().cuStreamQuery(stream);
  if (code === 600) return false; // CUDA_ERROR_NOT_READY
  check(code, 'cuStreamQuery');
  return true;
}

export function eventCreate(flags = 0): Handle {
  const v = out1<bigint | null>(null);
  check(cuda().cuEventCreate(v, flags), 'cuEventCreate');
  return asHandle(v[0]);
}

export function eventDestroy(event: Handle): void {
  check(cuda().cuEventDestroy(event), 'cuEventDestroy_v2');
}

export function eventRecord(event: Handle, stream: Handle): void {
  check(cuda().cuEventRecord(event, stream), 'cuEventRecord');
}

export function eventSynchronize(event: Handle): void {
  check(cuda().cuEventSynchronize(event), 'cuEventSynchronize');
}

export function eventElapsedMs(start: Handle, end: Handle): number {
  const v = out1(0);
  check(cuda().cuEventElapsedTime(v, start, end), 'cuEventElapsedTime');
  return v[0];
}

/**
 * Launch `fn`. `params` is the address of a packed `void*[]` (KernelParamBlock.pointerArray), so a launch makes
 * exactly one FFI call and allocates nothing.
 */
export function launchKernel(
  fn: Handle,
  gridX: number,
  gridY: number,
  gridZ: number,
  blockX: number,
  blockY: number,
  blockZ: number,
  sharedMemBytes: number,
  stream: Handle,
  params: Buffer,
): void {
  const r = library.loaded ?? cuda();
  const code = r.cuLaunchKernel(
    fn,
    gridX,
    gridY,
    gridZ,
    blockX,
    blockY,
    blockZ,
    sharedMemBytes,
    stream,
    params,
    null,
  );
  if (code !== 0) check(code, 'cuLaunchKernel');
}

/**
 * cuLaunchKernel with the function, stream and parameter block given as addresses (numbers). Returns the CUresult
 * instead of throwing: the caller decides (a context that is not current is retried after making it current).
 */
export function launchKernelAt(
  fn: number,
  gridX: number,
  gridY: number,
  gridZ: number,
  blockX: number,
  blockY: number,
  blockZ: number,
  sharedMemBytes: number,
  stream: number,
  params: number,
): number {
  return (library.loaded ?? cuda()).cuLaunchKernelAt(
    fn,
    gridX,
    gridY,
    gridZ,
    blockX,
    blockY,
    blockZ,
    sharedMemBytes,
    stream,
    params,
    0,
  ) as number;
}

/** cuLaunchKernelEx with addresses (numbers), returning the CUresult (see launchKernelAt). */
export function launchKernelExAt(config: number, fn: number, params: number): number {
  const r = library.loaded ?? cuda();
  if (!r.cuLaunchKernelExAt) {
    throw new Error(
      'this driver has no cuLaunchKernelEx (CUDA 12.0 or newer is needed for clusters and launch attributes)',
    );
  }
  return r.cuLaunchKernelExAt(config, fn, params, 0) as number;
}

/**
 * How many clusters of the launch described by the CUlaunchConfig at `config` (a LaunchConfigBlock's address, its
 * cluster attribute set) can be resident at once (cuOccupancyMaxActiveClusters).
 */
export function occupancyMaxActiveClustersAt(fn: number, config: number): number {
  const r = library.loaded ?? cuda();
  if (!r.cuOccupancyMaxActiveClustersAt) {
    throw new Error(
      'this driver has no cuOccupancyMaxActiveClusters (CUDA 12.0 or newer is needed for clusters)',
    );
  }
  const v = out1(0);
  check(r.cuOccupancyMaxActiveClustersAt(v, fn, config) as number, 'cuOccupancyMaxActiveClusters');
  return v[0] as number;
}

/** Throws the CudaError for a CUresult that is not CUDA_SUCCESS (for callers of the *At launches). */
export function checkResult(code: number, call: string): void {
  if (code !== 0) check(code, call);
}

/** CUresults that mean "not this context": the launch is retried once its device's context is current. */
export const NOT_CURRENT_RESULTS: ReadonlySet<number> = new Set([201, 400]);

/** Blocks of `fn` that can be resident on one multiprocessor at this block size and dynamic shared memory. */
export function occupancyMaxActiveBlocksPerMultiprocessor(
  fn: Handle,
  blockSize: number,
  sharedMem: number,
): number {
  const v = out1(0);
  check(
    cuda().cuOccupancyMaxActiveBlocksPerMultiprocessor(v, fn, blockSize, sharedMem),
    'cuOccupancyMaxActiveBlocksPerMultiprocessor',
  );
  return v[0] as number;
}

// ---- TMA descriptors (CUtensorMap) ----

/** CUtensorMapDataType values cuop encodes. */
export const TensorMapDataType = {
  Uint8: 0,
  Uint16: 1,
  Uint32: 2,
  Int32: 3,
  Float16: 6,
  Float32: 7,
  Float64: 8,
  BFloat16: 9,
} as const;

/** Bytes per element of each TensorMapDataType. */
const TENSOR_MAP_ELEMENT_BYTES: Readonly<Record<number, number>> = {
  0: 1,
  1: 2,
  2: 4,
  3: 4,
  6: 2,
  7: 4,
  8: 8,
  9: 2,
};

/** CUtensorMapSwizzle: how TMA permutes 16-byte chunks inside each 32/64/128-byte row of the shared-memory box. */
export const TensorMapSwizzle = { None: 0, B32: 1, B64: 2, B128: 3 } as const;

/** CUtensorMapL2promotion. */
export const TensorMapL2Promotion = { None: 0, B64: 1, B128: 2, B256: 3 } as const;

/** Bytes of a CUtensorMap (it must be passed to a kernel 64-byte aligned, as `const __grid_constant__`). */
export const TENSOR_MAP_BYTES = 128;

/** A tiled tensor map request: a dense tensor in global memory and the box one TMA copy moves. */
export interface TensorMapTiled {
  /** One of TensorMapDataType. */
  readonly dataType: number;
  /** Base address in device memory; 16-byte aligned. */
  readonly globalAddress: bigint;
  /** Extent of each dimension in elements, innermost (contiguous) first; 1 to 5 dimensions, each 1..2^32. */
  readonly globalDim: readonly number[];
  /** Byte stride of dimensions 1..rank-1 (rank-1 entries); multiples of 16, below 2^40. */
  readonly globalStrides: readonly number[];
  /** Box extent per dimension in elements, each 1..256; the innermost one a multiple of 16 bytes. */
  readonly boxDim: readonly number[];
  /** Element strides (default all 1), each 1..8. */
  readonly elementStrides?: readonly number[];
  /** One of TensorMapSwizzle (default None). With a swizzle the box's inner extent must fit its span. */
  readonly swizzle?: number;
  /** One of TensorMapL2Promotion (default None). */
  readonly l2Promotion?: number;
}

const SWIZZLE_SPAN: Readonly<Record<number, number>> = { 1: 32, 2: 64, 3: 128 };

/**
 * Why cuTensorMapEncodeTiled would refuse `t` (the driver's documented constraints), or undefined when it is
 * well-formed. Pure: no driver.
 */
export function tensorMapProblem(t: TensorMapTiled): string | undefined {
  const elem = TENSOR_MAP_ELEMENT_BYTES[t.dataType];
  if (elem === undefined) return `dataType ${t.dataType} is not one of TensorMapDataType`;
  const rank = t.globalDim.length;
  if (rank < 1 || rank > 5) return `rank ${rank}: a tiled tensor map has 1 to 5 dimensions`;
  if (t.boxDim.length !== rank) return `boxDim has ${t.boxDim.length} entries for rank ${rank}`;
  if (t.globalStrides.length !== rank - 1)
    return `globalStrides has ${t.globalStrides.length} entries; rank ${rank} needs ${rank - 1}`;
  const es = t.elementStrides ?? [];
  if (t.elementStrides && es.length !== rank)
    return `elementStrides has ${es.length} entries for rank ${rank}`;
  if (typeof t.globalAddress !== 'bigint' || t.globalAddress <= 0n || t.globalAddress % 16n !== 0n)
    return `globalAddress 0x${t.globalAddress.toString(16)} is not a 16-byte aligned device address`;
  for (let i = 0; i < rank; i++) {
    const d = t.globalDim[i] as number;
    if (!Number.isInteger(d) || d < 1 || d > 2 ** 32) return `globalDim[${i}] = ${d} is outside 1..2^32`;
    const b = t.boxDim[i] as number;
    if (!Number.isInteger(b) || b < 1 || b > 256) return `boxDim[${i}] = ${b} is outside 1..256`;
    const e = es[i] ?? 1;
    if (!Number.isInteger(e) || e < 1 || e > 8) return `elementStrides[${i}] = ${e} is outside 1..8`;
  }
  for (let i = 0; i < rank - 1; i++) {
    const s = t.globalStrides[i] as number;
    if (!Number.isInteger(s) || s <= 0 || s % 16 !== 0 || s >= 2 ** 40)
      return `globalStrides[${i}] = ${s} bytes is not a positive multiple of 16 below 2^40`;
  }
  const inner = (t.boxDim[0] as number) * elem;
  if (inner % 16 !== 0) return `boxDim[0] = ${t.boxDim[0]} elements is ${inner} bytes, not a multiple of 16`;
  const swizzle = t.swizzle ?? TensorMapSwizzle.None;
  if (!(swizzle in SWIZZLE_SPAN) && swizzle !== TensorMapSwizzle.None)
    return `swizzle ${swizzle} is not one of TensorMapSwizzle`;
  const span = SWIZZLE_SPAN[swizzle];
  if (span !== undefined && inner > span)
    return `the box's inner extent (${inner} bytes) exceeds the ${span}-byte swizzle span`;
  const l2 = t.l2Promotion ?? TensorMapL2Promotion.None;
  if (!Number.isInteger(l2) || l2 < 0 || l2 > 3)
    return `l2Promotion ${l2} is not one of TensorMapL2Promotion`;
  return undefined;
}

/**
 * Encode a tiled TMA descriptor (cuTensorMapEncodeTiled) into a fresh 128-byte buffer, to pass to a kernel by value.
 * Out-of-bounds elements of a box read as zeros. Throws a CudaError (CUDA_ERROR_INVALID_VALUE) naming the field when
 * the request breaks the driver's constraints, before calling it; CUDA_ERROR_NOT_SUPPORTED when the driver predates
 * tensor maps (CUDA 12.0).
 */
export function encodeTensorMapTiled(t: TensorMapTiled): Uint8Array {
  const problem = tensorMapProblem(t);
  if (problem !== undefined) {
    throw new CudaError(
      CUDA_ERROR_INVALID_VALUE,
      'CUDA_ERROR_INVALID_VALUE',
      'cuTensorMapEncodeTiled',
      problem,
    );
  }
  const r = cuda();
  if (!r.cuTensorMapEncodeTiled) {
    throw new CudaError(
      801,
      'CUDA_ERROR_NOT_SUPPORTED',
      'cuTensorMapEncodeTiled',
      'this driver has no tensor maps (CUDA 12.0 or newer is needed for TMA)',
    );
  }
  const rank = t.globalDim.length;
  const u64 = (xs: readonly number[]): Buffer => {
    const b = Buffer.alloc(Math.max(8, xs.length * 8));
    xs.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), i * 8));
    return b;
  };
  const u32 = (xs: readonly number[]): Buffer => {
    const b = Buffer.alloc(Math.max(4, xs.length * 4));
    xs.forEach((x, i) => b.writeUInt32LE(x, i * 4));
    return b;
  };
  const map = Buffer.alloc(TENSOR_MAP_BYTES);
  check(
    r.cuTensorMapEncodeTiled(
      map,
      t.dataType,
      rank,
      t.globalAddress,
      u64(t.globalDim),
      u64(t.globalStrides),
      u32(t.boxDim),
      u32(t.elementStrides ?? new Array<number>(rank).fill(1)),
      0,
      t.swizzle ?? TensorMapSwizzle.None,
      t.l2Promotion ?? TensorMapL2Promotion.None,
      0,
    ),
    'cuTensorMapEncodeTiled',
  );
  return new Uint8Array(map.buffer, map.byteOffset, TENSOR_MAP_BYTES);
}

/** Path of the loaded libcuda, for diagnostics. */
export function driverLibraryPath(): string {
  return bind().path;
}

function asHandle(v: bigint | number | null | undefined): Handle {
  if (v === null || v === undefined) return 0n;
  return typeof v === 'bigint' ? v : BigInt(v);
}
