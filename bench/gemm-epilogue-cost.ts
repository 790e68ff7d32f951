// What each part of a fused GEMM epilogue costs on top of the plain product, one kernel each: the plain Gemm, then
// the same Gemm with scale only, bias only, an activation only, and bias + activation (relu, gelu (erf), gelu-tanh,
// silu), then the same on other Hopper tiles (ping-pong consumers). Each point: warm up, then the median of 5 trials of --iters back-to-back forwards timed with CUDA events;
// the kernel column names the family that ran (wgmma on Hopper for float16/bfloat16).
//   node build/bench/gemm-epilogue-cost.js [--dtype float16] [--shapes 4096x4096x4096,8192x4096x1024] [--iters 20]
//                                          [--only <regex over the variant labels>]
import type { GemmEpilogueOptions } from '../src/ops/gemm-epilogue.js';
import { WGMMA_CONFIGS, type WgmmaConfig } from '../src/ops/gemm-wgmma-source.js';
import { Gemm } from '../src/ops/gemm.js';
import { Tensor, type DType } from '../src/ops/tensor.js';
import { Device } from '../src/runtime/index.js';
import { medianEventMs, recordingProvider } from './gpu-timing.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}
const dtype = arg('--dtype', 'float16') as DType;
const shapes = arg('--shapes', '4096x4096x4096,8192x4096x1024')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number, number]);
const iters = Number(arg('--iters', '20'));
const only = new RegExp(arg('--only', '.'));

// The third field: Hopper tile fields over the shape's default (the fused epilogue's row unroll; ping-pong
// consumers, and the cooperative kernel of the same 128×128 tile for comparison).
const PP128 = WGMMA_CONFIGS.wgmma128x128pp;
const PP64 = WGMMA_CONFIGS.wgmma64x256pp;
const COOP128 = WGMMA_CONFIGS.wgmma128x128;
const K2 = WGMMA_CONFIGS.wgmma128x256k2;
const K2_128 = WGMMA_CONFIGS.wgmma128x128k2;
const variants: [string, GemmEpilogueOptions | undefined, Partial<WgmmaConfig>?][] = (
  [
    ['plain', undefined],
    ['scale', { scale: 0.5 }],
    ['bias', { bias: true }],
    ['relu', { activation: 'relu' }],
    ['gelu', { activation: 'gelu' }],
    ['bias+relu', { bias: true, activation: 'relu' }],
    ['bias+gelu', { bias: true, activation: 'gelu' }],
    ['bias+gelu-tanh', { bias: true, activation: 'gelu-tanh' }],
    ['bias+silu', { bias: true, activation: 'silu' }],
    ['bias+gelu u2', { bias: true, activation: 'gelu' }, { epilogueUnroll: 2 }],
    ['bias+gelu u4', { bias: true, activation: 'gelu' }, { epilogueUnroll: 4 }],
    ['plain coop128', undefined, COOP128],
    ['bias+gelu coop128', { bias: true, activation: 'gelu' }, COOP128],
    ['plain pp128', undefined, PP128],
    ['bias+gelu pp128', { bias: true, activation: 'gelu' }, PP128],
    ['bias+gelu pp128 u2', { bias: true, activation: 'gelu' }, { ...PP128, epilogueUnroll: 2 }],
    ['bias+gelu pp128 u4', { bias: true, activation: 'gelu' }, { ...PP128, epilogueUnroll: 4 }],
    ['plain pp64x256', undefined, PP64],
    ['bias+gelu pp64x256', { bias: true, activation: 'gelu' }, PP64],
    ['plain k2', undefined, K2],
    ['bias+gelu k2', { bias: true, activation: 'gelu' }, K2],
    ['bias+gelu k2 u2', { bias: true, activation: 'gelu' }, { ...K2, epilogueUnroll: 2 }],
    ['bias+gelu k2 u4', { bias: true, activation: 'gelu' }, { ...K2, epilogueUnroll: 4 }],
    ['plain k2 128x128', undefined, K2_128],
    ['bias+gelu k2 128x128 u2', { bias: true, activation: 'gelu' }, { ...K2_128, epilogueUnroll: 2 }],
  ] as [string, GemmEpilogueOptions | undefined, Partial<WgmmaConfig>?][]
).filter(([label]) => label === 'plain' || only.test(label));

const device = Device.get(0);
device.makeCurrent();

const rand = (n: number): Float64Array =>
  Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311) * 0.5);
console.log(`${device.name} (${device.arch}), ${dtype}; ms per call, median of 5 × ${iters}`);
console.log('shape              epilogue               ms      +ms vs plain  kernel');
for (const [M, N, K] of shapes) {
  const A = Tensor.fromArray(device, rand(M * K), [M, K], dtype);
  const B = Tensor.fromArray(device, rand(K * N), [K, N], dtype);
  const bias = Tensor.fromArray(device, rand(N), [N], dtype);
  const C = Tensor.empty(device, [M, N], dtype);
  let plainMs = 0;
  for (const [label, epilogue, wgmma] of variants) {
    const op = new Gemm({ dtype, ...(epilogue ? { epilogue } : {}), ...(wgmma ? { wgmma } : {}) });
    const inputs = epilogue?.bias ? [A, B, bias] : [A, B];
    const names: string[] = [];
    await op.forward(inputs, [C], { jit: recordingProvider(names) });
    const ms = await medianEventMs(device, () => op.forward(inputs, [C]), iters);
    if (label === 'plain') plainMs = ms;
    const kernel = names.some((n) => n.includes('_wgmma_')) ? 'wgmma' : 'mma/simt';
    console.log(
      `${`${M}x${N}x${K}`.padEnd(18)} ${label.padEnd(21)} ${ms.toFixed(3).padStart(7)}  ${(ms - plainMs).toFixed(3).padStart(12)}  ${kernel}`,
    );
  }
  for (const t of [A, B, bias, C]) t.dispose();
}
