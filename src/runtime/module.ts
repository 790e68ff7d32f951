import type { ParamRecord } from '../cache/index.js';
import { driver, type ParamType } from '../cuda/index.js';
import type { Device } from './device.js';
import { releaseIn, releaseRegistry } from './release.js';
import { Kernel } from './kernel.js';

// Safety net for objects the program forgot to dispose: released when the JS object is collected.
const registry = releaseRegistry((handle) => driver.moduleUnload(handle));

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

  /** @internal use device.loadModule() */
  static load(
    device: Device,
    image: Uint8Array,
    signatures: Readonly<Record<string, readonly ParamType[]>> = {},
  ) {
    device.makeCurrent();
    const m = new Module(device, driver.moduleLoadData(image), signatures);
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
      const handle = driver.moduleGetFunction(this.handle, name);
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

  unload(): void {
    if (this.unloaded) return;
    this.unloaded = true;
    registry.unregister(this);
    this.kernels.clear();
    releaseIn(this, driver.moduleUnload);
  }
}
