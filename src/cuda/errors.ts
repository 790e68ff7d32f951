// Every error cuop raises is typed, says what to do, and travels: its fields survive JSON.stringify (toJSON) and
// structuredClone / worker postMessage. V8's structured clone keeps only an Error's message, stack and cause (not
// its class, name or own fields), so the fields are also kept under `cause` (unless the error has a real cause), and
// reviveError() turns a cloned or parsed error back into its class.

/** The fields an error carries beyond its message. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** What `cause` holds for a cuop error without an underlying cause: its class name and fields. */
export interface TravellingDetails {
  readonly cuopError: string;
  readonly [field: string]: unknown;
}

type ErrorClass = { readonly prototype: Error };
const errorClasses = new Map<string, ErrorClass>();

/**
 * Make `cls` revivable by name, and give it toJSON when it has none (classes that extend TypeError rather than
 * CuopError). Every exported error class of cuop registers itself.
 */
export function registerErrorClass(name: string, cls: ErrorClass): void {
  errorClasses.set(name, cls);
  if (!Object.prototype.hasOwnProperty.call(cls.prototype, 'toJSON') && !('toJSON' in cls.prototype)) {
    Object.defineProperty(cls.prototype, 'toJSON', {
      value(this: Error) {
        return errorJSON(this);
      },
      writable: true,
      configurable: true,
    });
  }
}

/** Give `err` its fields, and keep a copy under `cause` (when it has none) so they survive a structured clone. */
export function attachDetails(err: Error, details: ErrorDetails): void {
  Object.assign(err, details);
  if (err.cause === undefined) {
    Object.defineProperty(err, 'cause', {
      value: { cuopError: err.name, ...details } satisfies TravellingDetails,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/** The JSON form of a cuop error: name, message, every own field, stack. */
export function errorJSON(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  for (const [k, v] of Object.entries(err)) if (k !== 'name') out[k] = v;
  if (err.stack) out['stack'] = err.stack;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/**
 * A cuop error back in its class after a trip through structuredClone (a worker's postMessage) or JSON: accepts
 * the cloned Error (its `cause` names the class) or the parsed JSON object (its `name` does). Anything else is
 * returned unchanged.
 */
export function reviveError(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const cause = (value as { cause?: unknown }).cause;
  const fromClone = isRecord(cause) && typeof cause['cuopError'] === 'string';
  const name = fromClone ? (cause['cuopError'] as string) : (value as { name?: unknown }).name;
  const cls = typeof name === 'string' ? errorClasses.get(name) : undefined;
  if (!cls || typeof (value as { message?: unknown }).message !== 'string') return value;
  if (Object.getPrototypeOf(value) === cls.prototype) return value;
  const err = Object.create(cls.prototype) as Error;
  const fields: Record<string, unknown> = fromClone
    ? { ...(cause as Record<string, unknown>) }
    : { ...value };
  delete fields['cuopError'];
  delete fields['name'];
  delete fields['message'];
  delete fields['stack'];
  for (const [k, v] of [
    ['name', name],
    ['message', (value as { message: string }).message],
    ['stack', (value as { stack?: unknown }).stack],
  ] as const) {
    if (v !== undefined) Object.defineProperty(err, k, { value: v, writable: true, configurable: true });
  }
  attachDetails(err, fields);
  return err;
}

/**
 * Base of cuop's errors: typed, a message that says what to do, fields that travel. Each subclass ends its
 * constructor with attachDetails(this, {...fields}) (after super(), where its `name` field is already set).
 */
export class CuopError extends Error {
  /**
   * The JSON form: name, message, every own field and the stack (what `JSON.stringify` writes; `reviveError` reads it
   * back).
   */
  toJSON(): Record<string, unknown> {
    return errorJSON(this);
  }
}

/** A CUDA driver call returned something other than CUDA_SUCCESS. */
export class CudaError extends CuopError {
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
    attachDetails(this, { code, symbol, call });
  }
}
registerErrorClass('CudaError', CudaError);

/** An NVRTC call returned something other than NVRTC_SUCCESS. */
export class NvrtcError extends CuopError {
  override readonly name = 'NvrtcError';
  constructor(
    readonly code: number,
    readonly symbol: string,
    readonly call: string,
  ) {
    super(`${call} failed: ${symbol} (${code})`);
    attachDetails(this, { code, symbol, call });
  }
}
registerErrorClass('NvrtcError', NvrtcError);

/** A shared library (libcuda, libnvrtc) could not be found or opened. */
export class LibraryNotFoundError extends CuopError {
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
    attachDetails(this, { library, searched: [...searched], envVar });
  }
}
registerErrorClass('LibraryNotFoundError', LibraryNotFoundError);

/**
 * NVRTC failed with NVRTC_ERROR_BUILTIN_OPERATION_FAILURE (7): it could not use its builtins library
 * (libnvrtc-builtins.so.MAJOR.MINOR), which it loads at the first compile. Says whether that library is beside
 * libnvrtc, where it was looked for, and what to install.
 */
export class NvrtcBuiltinsError extends CuopError {
  override readonly name = 'NvrtcBuiltinsError';
  readonly code = 7;
  readonly symbol = 'NVRTC_ERROR_BUILTIN_OPERATION_FAILURE';
  constructor(
    readonly call: string,
    /** The libnvrtc in use. */
    readonly nvrtcPath: string,
    /** The builtins library's soname, e.g. libnvrtc-builtins.so.13.0. */
    readonly builtins: string,
    /** The directories it was looked for in. */
    readonly looked: readonly string[],
    /** Where it was found, when it was. */
    readonly found: string | undefined,
    /** Why loading the found copy failed, when it did. */
    readonly loadError?: string,
  ) {
    const where =
      looked.length > 0 ? looked.join(', ') : "only the dynamic loader's path (libnvrtc came from it)";
    super(
      `${call} failed: NVRTC_ERROR_BUILTIN_OPERATION_FAILURE (7): ` +
        (found === undefined
          ? `NVRTC's builtins library ${builtins} is missing: it is not beside ${nvrtcPath} (looked in ${where}). ` +
            `Install the one of the same release (for the CUDA 13 pip wheel: pip install nvidia-cuda-nvrtc, which ` +
            `puts both in nvidia/cu13/lib), or set CUOP_NVRTC_PATH to a libnvrtc that has it beside it.`
          : loadError !== undefined
            ? `NVRTC's builtins library ${found} is there but does not load (${loadError}). Reinstall it from ` +
              `the same release as ${nvrtcPath}.`
            : `NVRTC's builtins library ${found} was loaded, yet NVRTC could not use it: it must come from the ` +
              `same release as ${nvrtcPath} (reinstall both from one toolkit or wheel version).`),
    );
    attachDetails(this, {
      code: 7,
      symbol: this.symbol,
      call,
      nvrtcPath,
      builtins,
      looked: [...looked],
      found,
      ...(loadError !== undefined ? { loadError } : {}),
    });
  }
}
registerErrorClass('NvrtcBuiltinsError', NvrtcBuiltinsError);
