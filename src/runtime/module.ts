import * as fs from 'node:fs';

import type { ParamRecord } from '../cache/index.js';
import {
  attachDetails,
  CudaError,
  CuopError,
  driver,
  registerErrorClass,
  type ParamType,
} from '../cuda/index.js';
import type { Device } from './device.js';
import { releaseIn, releaseRegistry } from './release.js';
import { Kernel } from './kernel.js';

// Safety net for objects the program forgot to dispose: released when the JS object is collected.
const registry = releaseRegistry((handle) => driver.moduleUnload(handle));

/** A prebuilt image file that cannot be used: missing, unreadable, or of no kind the driver loads. */
export class ImageFileError extends CuopError {
  override readonly name = 'ImageFileError';
  declare readonly path: string;
  constructor(path: string, why: string) {
    super(`cannot load the image ${path}: ${why}`);
    attachDetails(this, { path });
  }
}
registerErrorClass('ImageFileError', ImageFileError);

/** A kernel name the loaded image does not hold. */
export class KernelNotFoundError extends CuopError {
  override readonly name = 'KernelNotFoundError';
  declare readonly kernel: string;
  constructor(kernel: string, where: string, cause?: unknown) {
    super(
      `${where} has no kernel named ${JSON.stringify(kernel)}. C++ kernels are found by their mangled name: declare ` +
        'them extern "C", or use the name the compiler lowered (nm/cuobjdump -symbols show it).',
      cause === undefined ? undefined : { cause },
    );
    attachDetails(this, { kernel });
  }
}
registerErrorClass('KernelNotFoundError', KernelNotFoundError);

/** The images a Module loads: cubin (ELF), fatbin, or PTX text the driver compiles. */
export type ImageKind = 'cubin' | 'fatbin' | 'ptx';

/** What an image is, from its first bytes: an ELF cubin, a fatbin (magic 0xBA55ED50), else PTX text. */
export function imageKindOf(image: Uint8Array): ImageKind {
  if (image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46) return 'cubin';
  if (image[0] === 0x50 && image[1] === 0xed && image[2] === 0x55 && image[3] === 0xba) return 'fatbin';
  return 'ptx';
}

/** PTX must reach the driver NUL-terminated; a cubin or fatbin as it is. */
export function imageForDriver(image: Uint8Array): Uint8Array {
  if (imageKindOf(image) !== 'ptx' || image[image.length - 1] === 0) return image;
  const out = new Uint8Array(image.length + 1);
  out.set(image);
  return out;
}

/** A loaded image (cubin, PTX or fatbin) in one device's context. */
export class Module {
  private readonly kernels = new Map<string, Kernel>();
  private unloaded = false;
  /** The device's context generation when created (see Device.generation). */
  readonly generation: number;

  private constructor(
    readonly device: Device,
    readonly handle: bigint,
    private readonly signatures: Readonly<Record<string, readonly ParamType[]>>,
  ) {
    this.generation = device.generation;
  }

  /**
   * A prebuilt image from a file (cubin, PTX or fatbin, as CuPy's RawModule(path=…)). A missing or unreadable file
   * is an ImageFileError naming the path; an image the driver refuses is its CudaError.
   */
  static loadFile(
    device: Device,
    path: string,
    signatures: Readonly<Record<string, readonly ParamType[]>> = {},
  ): Module {
    let image: Buffer;
    try {
      const st = fs.statSync(path);
      if (!st.isFile()) throw new ImageFileError(path, 'it is not a regular file');
      image = fs.readFileSync(path);
    } catch (e) {
      if (e instanceof ImageFileError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ImageFileError(
        path,
        code === 'ENOENT' ? 'no such file' : `${code ?? 'error'}: ${(e as Error).message}`,
      );
    }
    if (image.length === 0) throw new ImageFileError(path, 'the file is empty');
    return Module.load(device, image, signatures);
  }

  /** @internal use device.loadModule() */
  static load(
    device: Device,
    image: Uint8Array,
    signatures: Readonly<Record<string, readonly ParamType[]>> = {},
  ) {
    device.makeCurrent();
    const m = new Module(device, driver.moduleLoadData(imageForDriver(image)), signatures);
    registry.register(m, { device, handle: m.handle, generation: device.generation }, m);
    return m;
  }

  /**
   * The kernel with this symbol name (lowered name for C++ kernels); the same object on repeated calls. `params`:
   * its parameters as the compiler declared them (the cache records them), so launches check argument types.
   */
  getKernel(name: string, signature?: readonly ParamType[], params?: readonly ParamRecord[]): Kernel {
    const sig = signature ?? this.signatures[name];
    // One Kernel per (symbol, signature): each keeps its own parameter block and argument typing.
    const id = sig ? `${name}(${sig.join(',')})` : name;
    let k = this.kernels.get(id);
    if (!k) {
      if (this.unloaded) throw new Error('Module used after unload()');
      this.device.makeCurrent();
      let handle: bigint;
      try {
        handle = driver.moduleGetFunction(this.handle, name);
      } catch (e) {
        if (e instanceof CudaError && e.symbol === 'CUDA_ERROR_NOT_FOUND')
          throw new KernelNotFoundError(name, 'the module', e);
        throw e;
      }
      k = new Kernel(this, this.device, handle, name, sig, params);
      this.kernels.set(id, k);
    }
    return k;
  }

  /** Address and size of a __device__ / __constant__ variable. */
  getGlobal(name: string): { devicePtr: bigint; bytes: number } {
    this.device.makeCurrent();
    const g = driver.moduleGetGlobal(this.handle, name);
    return { devicePtr: g.ptr, bytes: g.bytes };
  }

  /** Unloads the module now (its kernels are not used afterwards); later calls do nothing. */
  unload(): void {
    if (this.unloaded) return;
    this.unloaded = true;
    registry.unregister(this);
    this.kernels.clear();
    releaseIn(this, driver.moduleUnload);
  }
}
