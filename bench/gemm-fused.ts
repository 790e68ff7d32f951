// Fused GEMM epilogue against the unfused sequence, in cuop: `gelu(A·B + bias)` as one kernel (Gemm with
// epilogue { bias, activation: 'gelu' }) against a plain Gemm followed by an elementwise `geluErf(C + biasMatrix)`
// (cuop's elementwise ops do not broadcast, so the bias is pre-expanded to M×N, outside the timing), and the plain
// Gemm alone (what the epilogue costs on top of the product). Each point: warm up, then the median of 5 trials of
// --iters back-to-back forwards timed with CUDA events. The kernel columns name what ran (wgmma: the sm_90a
// wgmma+TMA kernel, fused epilogue included; mma: mma.sync; simt: float32), from the kernel names asked for.
//
//   node build/bench/gemm-fused.js [--dtypes float16,bfloat16,float32] [--shapes 4096x4096x4096,8192x4096x1024]
//                                  [--iters 20] [--json out.json]
// PyTorch peer, same shapes: python3 bench/gemm_fused_torch.py --shapes ... (gelu(addmm(bias, A, B)), eager).
import { writeFileSync } from 'node:fs';

import { ew } from '../src/ops/elementwise-source.js';
import { Elementwise } from '../src/ops/elementwise.js';
import { Gemm } from '../src/ops/gemm.js';
import { Tensor, type DType } from '../src/ops/tensor.js';
import { Device } from '../src/runtime/index.js';
import { medianEventMs, recordingProvider } from './gpu-timing.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}
const dtypes = arg('--dtypes', 'float16,bfloat16,float32').split(',') as DType[];
const shapes = arg('--shapes', '4096x4096x4096,8192x4096x1024,2048x8192x2048,1024x1024x1024')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number, number]);
const iters = Number(arg('--iters', '20'));
const json = arg('--json', '');

const device = Device.get(0);
device.makeCurrent();

/** Which GEMM kernel family a forward asked for, by kernel name: wgmma, mma (mma.sync) or simt. */
function kernelOf(names: readonly string[]): string {
  const gemm = names.filter((n) => n.startsWith('cuop_gemm_'));
  if (gemm.length === 0) return '?';
  const kinds = new Set(
    gemm.map((n) => (n.includes('_wgmma_') ? 'wgmma' : n.includes('_f32_') ? 'simt' : 'mma')),
  );
  return [...kinds].join('+');
}

const rand = (n: number): Float64Array =>
  Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311) * 0.5);
const results: Record<string, unknown>[] = [];
console.log(`${device.name} (${device.arch}); ms per call, median of 5 × ${iters}`);
console.log(
  'dtype     shape              fused   gemm+ew  gemm-only  fused TFLOP/s  saved   kernel (fused / plain)',
);
for (const dtype of dtypes) {
  for (const [M, N, K] of shapes) {
    const A = Tensor.fromArray(device, rand(M * K), [M, K], dtype);
    const B = Tensor.fromArray(device, rand(K * N), [K, N], dtype);
    const biasValues = rand(N);
    const bias = Tensor.fromArray(device, biasValues, [N], dtype);
    const biasMatrix = Tensor.fromArray(
      device,
      Float64Array.from({ length: M * N }, (_, i) => biasValues[i % N] as number),
      [M, N],
      dtype,
    );
    const C = Tensor.empty(device, [M, N], dtype);
    const D = Tensor.empty(device, [M, N], dtype);
    const fused = new Gemm({ dtype, epilogue: { bias: true, activation: 'gelu' } });
    const plain = new Gemm({ dtype });
    const act = new Elementwise(ew.input(0).add(ew.input(1)).geluErf());
    const fusedNames: string[] = [];
    const plainNames: string[] = [];
    await fused.forward([A, B, bias], [C], { jit: recordingProvider(fusedNames) });
    await plain.forward([A, B], [C], { jit: recordingProvider(plainNames) });
    const fusedKernel = kernelOf(fusedNames);
    const plainKernel = kernelOf(plainNames);
    const fusedMs = await medianEventMs(device, () => fused.forward([A, B, bias], [C]), iters);
    const separateMs = await medianEventMs(
      device,
      async () => {
        await plain.forward([A, B], [C]);
        await act.forward([C, biasMatrix], [D]);
      },
      iters,
    );
    const gemmMs = await medianEventMs(device, () => plain.forward([A, B], [C]), iters);
    const tflops = (2 * M * N * K) / (fusedMs * 1e-3) / 1e12;
    console.log(
      `${dtype.padEnd(9)} ${`${M}x${N}x${K}`.padEnd(18)} ${fusedMs.toFixed(3).padStart(6)}  ${separateMs.toFixed(3).padStart(7)}  ` +
        `${gemmMs.toFixed(3).padStart(9)}  ${tflops.toFixed(1).padStart(13)}  ` +
        `${(((separateMs - fusedMs) / separateMs) * 100).toFixed(1).padStart(5)}%  ${fusedKernel} / ${plainKernel}`,
    );
    results.push({ dtype, M, N, K, fusedMs, separateMs, gemmMs, tflops, fusedKernel, plainKernel });
    for (const t of [A, B, bias, biasMatrix, C, D]) t.dispose();
  }
}
if (json) writeFileSync(json, JSON.stringify({ device: device.name, iters, results }, null, 2));
