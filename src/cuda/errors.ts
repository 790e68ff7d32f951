/** A CUDA driver call returned something other than CUDA_SUCCESS. */
export class CudaError extends Error {
  override readonly name = 'CudaError';
  constructor(
    /** Numeric CUresult. */
    readonly code: number,
    /** Symbolic name from cuGetErrorName, e.g. CUDA_ERROR_INVALID_VALUE. */
    readonly symbol: string,
    /** The driver entry point that failed, e.g. cuLaunchKernel. */
    readonly call: string,
    description: string,
  ) {
    super(`${call} failed: ${symbol} (${code})${description ? `: ${description}` : ''}`);
  }
}

/** An NVRTC call returned something other than NVRTC_SUCCESS. */
export class NvrtcError extends Error {
  override readonly name = 'NvrtcError';
  constructor(
    readonly code: number,
    readonly symbol: string,
    readonly call: string,
  ) {
    super(`${call} failed: ${symbol} (${code})`);
  }
}

/** A shared library (libcuda, libnvrtc) could not be found or opened. */
export class LibraryNotFoundError extends Error {
  override readonly name = 'LibraryNotFoundError';
  constructor(
    readonly library: string,
    /** Every path or source that was tried, in order, with why it failed. */
    readonly searched: readonly string[],
    readonly envVar: string,
  ) {
    super(
      `could not load ${library}. Looked in:\n${searched.map((s) => `  - ${s}`).join('\n')}\n` +
        `Set ${envVar} to the library's full path, or CUDA_PATH to the toolkit root.`,
    );
  }
}
