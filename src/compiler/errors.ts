import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';

/**
 * The source did not compile. The message carries the compiler's full log, file:line messages intact, and the
 * options, so the user can find the offending line and reproduce the compile without re-running anything. Never
 * cached.
 */
export class CompileError extends CuopError {
  override readonly name = 'CompileError';
  constructor(
    readonly compiler: string,
    readonly programName: string,
    readonly log: string,
    /** Options the compile ran with, for reproducing it by hand. */
    readonly options: readonly string[],
  ) {
    super(
      `${compiler} could not compile ${programName}:\n${log || '(the compiler printed no log)'}` +
        (options.length > 0 ? `\noptions: ${options.join(' ')}` : ''),
    );
    attachDetails(this, { compiler, programName, log, options: [...options] });
  }
}
registerErrorClass('CompileError', CompileError);

/** A compiler backend is not usable on this host (no libnvrtc, no nvcc). */
export class CompilerUnavailableError extends CuopError {
  override readonly name = 'CompilerUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    attachDetails(this, {});
  }
}
registerErrorClass('CompilerUnavailableError', CompilerUnavailableError);
