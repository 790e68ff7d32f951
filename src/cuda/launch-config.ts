// cuLaunchKernelEx's CUlaunchConfig and its attributes, packed once per kernel into one Buffer and rewritten in place
// per launch (cuda.h, CUDA 12+: the config is 56 bytes, each CUlaunchAttribute 72: a 4-byte id, 4 bytes of padding,
// a 64-byte value union). The config's attrs pointer points into the same Buffer, whose address never moves.
import koffi from 'koffi';

const CONFIG_BYTES = 56;
const ATTRIBUTE_BYTES = 72;
const MAX_ATTRIBUTES = 2;
/** CUlaunchAttributeID values used here. */
const COOPERATIVE = 2;
const CLUSTER_DIMENSION = 4;

export interface ExLaunch {
  readonly grid: readonly [number, number, number];
  readonly block: readonly [number, number, number];
  readonly sharedMem: number;
  readonly stream: bigint;
  readonly cooperative: boolean;
  /** Thread-block cluster dimensions (sm_90+), or undefined for none. */
  readonly cluster: readonly [number, number, number] | undefined;
}

export class LaunchConfigBlock {
  readonly buffer = Buffer.alloc(CONFIG_BYTES + MAX_ATTRIBUTES * ATTRIBUTE_BYTES);
  /** Where the attributes start (the config's attrs pointer). */
  readonly attrsAddress = koffi.address(this.buffer) + BigInt(CONFIG_BYTES);

  /** Writes `l` into the buffer; pass `buffer` to driver.launchKernelEx. */
  set(l: ExLaunch): Buffer {
    const b = this.buffer;
    for (let i = 0; i < 3; i++) {
      b.writeUInt32LE(l.grid[i]!, i * 4);
      b.writeUInt32LE(l.block[i]!, 12 + i * 4);
    }
    b.writeUInt32LE(l.sharedMem, 24);
    b.writeBigUInt64LE(l.stream, 32);
    b.writeBigUInt64LE(this.attrsAddress, 40);
    let n = 0;
    const attr = (id: number): number => {
      const at = CONFIG_BYTES + n++ * ATTRIBUTE_BYTES;
      b.fill(0, at, at + ATTRIBUTE_BYTES);
      b.writeUInt32LE(id, at);
      return at + 8;
    };
    if (l.cooperative) b.writeInt32LE(1, attr(COOPERATIVE));
    if (l.cluster) {
      const v = attr(CLUSTER_DIMENSION);
      for (let i = 0; i < 3; i++) b.writeUInt32LE(l.cluster[i]!, v + i * 4);
    }
    b.writeUInt32LE(n, 48);
    return b;
  }
}
