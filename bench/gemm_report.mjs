#!/usr/bin/env node
// Joins the JSON of bench/gemm.ts (cuop) and bench/gemm_torch.py (cuBLAS) into a ratio table.
//   node bench/gemm_report.mjs cuop.json torch.json
/* global process, console */
import { readFileSync } from 'node:fs';

const [cuopPath, torchPath] = process.argv.slice(2);
if (!cuopPath || !torchPath) {
  console.error('usage: node bench/gemm_report.mjs <cuop.json> <torch.json>');
  process.exit(2);
}
const cuop = JSON.parse(readFileSync(cuopPath, 'utf8'));
const torch = JSON.parse(readFileSync(torchPath, 'utf8'));
const key = (r) => `${r.dtype} ${r.M}x${r.N}x${r.K}`;
const ref = new Map(torch.results.map((r) => [key(r), r]));
console.log(`cuop on ${cuop.device}; cuBLAS via torch ${torch.torch ?? '?'} on ${torch.device}`);
const rows = [['dtype', 'size', 'cuop config', 'cuop TFLOP/s', 'cuBLAS TFLOP/s', 'ratio']];
const groups = new Map();
for (const r of cuop.results) {
  const k = key(r);
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
for (const [k, rs] of groups) {
  const t = ref.get(k);
  const best = rs.reduce((a, b) => (b.tflops > a.tflops ? b : a));
  for (const r of rs) {
    const tag = (r.default ? '*' : ' ') + (r === best && rs.length > 1 ? 'best' : '');
    rows.push([
      r.dtype,
      `${r.M}³`,
      `${r.config} ${tag}`.trim(),
      r.tflops.toFixed(1),
      t ? t.tflops.toFixed(1) : '-',
      t ? `${((100 * r.tflops) / t.tflops).toFixed(0)} %` : '-',
    ]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join('  '));
console.log('(* = default config for the shape; best = fastest config measured at that size)');
