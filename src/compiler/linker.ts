// The device linker: relocatable programs (-rdc), prebuilt objects, libraries, fatbins and LTO IR in, one cubin
// out. Two backends with one shape, as for compiling: nvJitLink in-process, nvcc's nvlink as a subprocess.
import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';

/** What one input of a link is (nvJitLink's input types). */
export type LinkInputKind = 'cubin' | 'ptx' | 'ltoir' | 'fatbin' | 'object' | 'library';
/** Every LinkInputKind, in nvJitLink's order. */
export const LINK_INPUT_KINDS: readonly LinkInputKind[] = [
  'cubin',
  'ptx',
  'ltoir',
  'fatbin',
  'object',
  'library',
];

/** The two linker backends: nvJitLink in-process, nvcc's nvlink as a subprocess. */
export type LinkerId = 'nvjitlink' | 'nvlink';

/** Which linker, of which toolkit version, with which device runtime: part of every linked image's key. */
export interface LinkerInfo {
  readonly id: LinkerId;
  /** Toolkit version of the linker, e.g. "13.0.88"; part of every linked image's key. */
  readonly version: string;
  /**
   * The device runtime library (libcudadevrt.a) this linker adds for dynamic parallelism, as `size:<bytes>`, or
   * undefined when it has none. Part of the key: a different library is a different image.
   */
  readonly deviceRuntime: string | undefined;
}

/** One input of a link: its kind, its bytes, and a name for the linker's messages. */
export interface LinkInput {
  readonly kind: LinkInputKind;
  readonly data: Uint8Array;
  /** Named in the linker's messages (a program name, a file name). */
  readonly name: string;
}

/** Everything that determines the image of one link. */
export interface LinkRequest {
  /** `sm_90` style. */
  readonly arch: string;
  /** Linked in this order (order decides which archive members are pulled in). */
  readonly inputs: readonly LinkInput[];
  /** Link-time optimization: the LTO IR inputs are optimized together, then compiled for `arch`. */
  readonly lto?: boolean;
  /**
   * Link the device runtime, libcudadevrt (kernels that launch kernels need it). `'auto'` (the default) links
   * without it and again with it only when that link fails (a kernel launching kernels leaves the device runtime's
   * calls undefined): it adds ~200 KB to an image, and loading that image takes ~25× longer (H200: 1.6 ms against 0.06 ms).
   */
  readonly deviceRuntime?: boolean | 'auto';
  /** Extra linker options, nvJitLink spelling (`-O3`, `-maxrregcount=64`, `-Xptxas=-v`). */
  readonly options?: readonly string[];
}

/** The linked cubin, the linker's log and who linked it. */
export interface LinkResult {
  readonly image: Buffer;
  /** The linker's warnings; empty when silent. */
  readonly log: string;
  readonly linkMs: number;
  readonly linker: LinkerInfo;
}

/** Both link backends (nvJitLink, nvlink) implement this and return the same shape. */
export interface Linker {
  readonly id: LinkerId;
  /** Throws LinkerUnavailableError when the backend is not usable on this host. */
  info(): Promise<LinkerInfo>;
  /** Links the inputs into one cubin; throws LinkError with the linker's log when they do not link. */
  link(request: LinkRequest): Promise<LinkResult>;
}

/** The inputs did not link (an undefined symbol, an arch mismatch). The message carries the linker's log. */
export class LinkError extends CuopError {
  override readonly name = 'LinkError';
  constructor(
    readonly linker: string,
    /** The inputs' names, in link order. */
    readonly inputs: readonly string[],
    readonly log: string,
    readonly options: readonly string[],
  ) {
    super(
      `${linker} could not link ${inputs.join(', ') || '(no inputs)'}:\n${log || '(the linker printed no log)'}` +
        (options.length > 0 ? `\nlink options: ${options.join(' ')}` : ''),
    );
    attachDetails(this, { linker, inputs: [...inputs], log, options: [...options] });
  }
}
registerErrorClass('LinkError', LinkError);

/** No device linker is usable (neither libnvJitLink nor nvlink). */
export class LinkerUnavailableError extends CuopError {
  override readonly name = 'LinkerUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    attachDetails(this, {});
  }
}
registerErrorClass('LinkerUnavailableError', LinkerUnavailableError);

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const EM_CUDA = 190;

/**
 * What a prebuilt input is, from its first bytes: a device ELF (e_machine EM_CUDA) is a cubin, any other ELF a host
 * object holding device code (nvcc -dc), `!<arch>` a static library, 0xBA55ED50 a fatbin, 0x7F4E43ED LTO IR, and
 * text that starts like PTX is PTX. Undefined when it is none of these.
 */
export function detectLinkInputKind(data: Uint8Array): LinkInputKind | undefined {
  if (data.length >= 20 && ELF_MAGIC.every((b, i) => data[i] === b)) {
    const machine = (data[18] ?? 0) | ((data[19] ?? 0) << 8);
    return machine === EM_CUDA ? 'cubin' : 'object';
  }
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 4096));
  if (head.subarray(0, 8).toString('latin1') === '!<arch>\n') return 'library';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xba55ed50) return 'fatbin';
  if (head.length >= 4 && head.readUInt32LE(0) === 0x7f4e43ed) return 'ltoir';
  const text = head.toString('latin1');
  if (/^(\s|\/\/[^\n]*\n)*\.version\s+\d/.test(text)) return 'ptx';
  return undefined;
}

/** The options a user passed that make a program relocatable (separate compilation): it must be linked to load. */
export function isRelocatable(options: readonly string[]): boolean {
  for (let i = 0; i < options.length; i++) {
    const o = options[i] as string;
    if (o === '-dc' || o === '--device-c') return true;
    const m = /^(?:-rdc|--relocatable-device-code)(?:=(.*))?$/.exec(o);
    if (m) {
      const value = m[1] ?? options[i + 1];
      if (value === 'true') return true;
    }
  }
  return false;
}

/**
 * A link under a `deviceRuntime` preference: `attempt(false)` first for 'auto', then `attempt(true)` when that
 * failed with a LinkError (whatever the linker's wording): a link the device runtime does not fix fails again,
 * and the first error, without the library, is the one thrown.
 * `available`: whether the linker has the library at all.
 */
export async function linkWithDeviceRuntime<T>(
  preference: boolean | 'auto' | undefined,
  available: boolean,
  attempt: (withDeviceRuntime: boolean) => Promise<T>,
): Promise<T> {
  const want = preference ?? 'auto';
  if (want !== 'auto') return attempt(want && available);
  try {
    return await attempt(false);
  } catch (e) {
    if (!available || !(e instanceof LinkError)) throw e;
    try {
      return await attempt(true);
    } catch {
      throw e;
    }
  }
}
