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
