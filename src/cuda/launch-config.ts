// cuLaunchKernelEx's CUlaunchConfig and its attributes, packed once per kernel into one Buffer and rewritten in place
// per launch (cuda.h, CUDA 12+: the config is 56 bytes, each CUlaunchAttribute 72: a 4-byte id, 4 bytes of padding,
// a 64-byte value union). The config's attrs pointer points into the same Buffer, whose address never moves.
import { koffi } from './ffi.js';

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
  /** The buffer's address as a number (for driver.launchKernelExAt). */
  readonly address = Number(koffi.address(this.buffer));
  /** Where the attributes start (the config's attrs pointer). */
  readonly attrsAddress = koffi.address(this.buffer) + BigInt(CONFIG_BYTES);
  // Typed views: a launch rewrites a few words, far cheaper than Buffer's write* methods.
  private readonly u32 = new Uint32Array(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length / 4);
  private readonly u64 = new BigUint64Array(
    this.buffer.buffer,
    this.buffer.byteOffset,
    this.buffer.length / 8,
  );
  private lastStream: bigint | undefined;
  /** Which attributes the buffer holds now (bit 0 cooperative, bit 1 cluster); -1 before the first write. */
  private attributeSet = -1;
  /** The word where the cluster attribute's three dimensions start. */
  private clusterWord = 0;

  /** Writes `l` into the buffer (its `address` is what driver.launchKernelExAt takes). */
  set(l: ExLaunch): Buffer {
    this.write(l.grid, l.block, l.sharedMem, l.stream, l.cooperative, l.cluster);
    return this.buffer;
  }

  /**
   * The same as set(), from plain values (no objects made per launch). A launch rewrites only the words that can
   * change; the attribute records are laid out again only when the set of attributes changes.
   */
  write(
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    sharedMem: number,
    stream: bigint,
    cooperative: boolean,
    cluster: readonly [number, number, number] | undefined,
  ): void {
    const w = this.u32;
    w[0] = grid[0];
    w[1] = grid[1];
    w[2] = grid[2];
    w[3] = block[0];
    w[4] = block[1];
    w[5] = block[2];
    w[6] = sharedMem;
    if (stream !== this.lastStream) {
      this.u64[4] = stream; // offset 32
      this.u64[5] = this.attrsAddress; // offset 40
      this.lastStream = stream;
    }
    const set = (cooperative ? 1 : 0) | (cluster ? 2 : 0);
    if (set !== this.attributeSet) this.layAttributes(set);
    if (cluster) {
      const v = this.clusterWord;
      w[v] = cluster[0];
      w[v + 1] = cluster[1];
      w[v + 2] = cluster[2];
    }
  }

  private layAttributes(set: number): void {
    const w = this.u32;
    w.fill(0, CONFIG_BYTES / 4);
    let n = 0;
    // Attribute i starts at word (56 + 72 i) / 4; its value union 8 bytes later.
    const attr = (id: number): number => {
      const at = (CONFIG_BYTES + n++ * ATTRIBUTE_BYTES) / 4;
      w[at] = id;
      return at + 2;
    };
    if (set & 1) w[attr(COOPERATIVE)] = 1;
    if (set & 2) this.clusterWord = attr(CLUSTER_DIMENSION);
    w[12] = n; // numAttrs, offset 48
    this.attributeSet = set;
  }
}
