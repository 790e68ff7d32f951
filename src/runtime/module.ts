import { driver, type ParamType } from '../cuda/index.js';
import type { Device } from './device.js';
import { Kernel } from './kernel.js';

const registry = new FinalizationRegistry<{ device: Device; handle: bigint }>(({ device, handle }) => {
  try {
    device.makeCurrent();
    driver.moduleUnload(handle);
  } catch {
    // context gone
  }
});

/** A loaded image (cubin, PTX or fatbin) in one device's context. */
export class Module {
  private readonly kernels = new Map<string, Kernel>();
  private unloaded = false;

  private constructor(
    readonly device: Device,
    readonly handle: bigint,
    private readonly signatures: Readonly<Record<string, readonly ParamType[]>>,
  ) {}

  /** @internal use device.loadModule() */
  static load(
    device: Device,
    image: Uint8Array,
    signatures: Readonly<Record<string, readonly ParamType[]>> = {},
  ) {
    device.makeCurrent();
    const m = new Module(device, driver.moduleLoadData(image), signatures);
    registry.register(m, { device, handle: m.handle }, m);
    return m;
  }

  /** The kernel with this symbol name (lowered name for C++ kernels); the same object on repeated calls. */
  getKernel(name: string, signature?: readonly ParamType[]): Kernel {
    let k = this.kernels.get(name);
    if (!k) {
      if (this.unloaded) throw new Error('Module used after unload()');
      this.device.makeCurrent();
      k = new Kernel(
        this.device,
        driver.moduleGetFunction(this.handle, name),
        name,
        signature ?? this.signatures[name],
      );
      this.kernels.set(name, k);
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
    this.device.makeCurrent();
    driver.moduleUnload(this.handle);
  }
}
