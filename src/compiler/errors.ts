/**
 * The source did not compile. The message carries the compiler's full log, file:line messages intact, so the user
 * can find the offending line without re-running anything. Never cached.
 */
export class CompileError extends Error {
  override readonly name = 'CompileError';
  constructor(
    readonly compiler: string,
    readonly programName: string,
    readonly log: string,
    /** Options the compile ran with, for reproducing it by hand. */
    readonly options: readonly string[],
  ) {
    super(`${compiler} could not compile ${programName}:\n${log || '(the compiler printed no log)'}`);
  }
}

/** A compiler backend is not usable on this host (no libnvrtc, no nvcc). */
export class CompilerUnavailableError extends Error {
  override readonly name = 'CompilerUnavailableError';
}
