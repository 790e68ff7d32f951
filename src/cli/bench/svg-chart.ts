// `cuop bench --chart out.svg`: the timing rows as grouped bars on a log scale, written by hand (no dependency).
// One group per kernel, one cluster per tool (cuop, CuPy, Triton) inside it, one bar per series (compile, memory
// hit, disk hit, remote hit), each `<rect class="bar" data-scenario="<row name>">`. A series that was not measured
// gets an "n/a" mark and no bar.
import { formatMs } from './format.js';
import type { BenchReport } from './run.js';
import { KERNELS, SERIES, type BenchRow, type Series, type Tool } from './scenarios.js';

const COLORS: Readonly<Record<Series, string>> = {
  compile: '#d62728',
  'memory hit': '#2ca02c',
  'disk hit': '#1f77b4',
  'remote hit': '#9467bd',
};
const TOOLS: readonly Tool[] = ['cuop', 'cupy', 'triton'];
const TOOL_LABEL: Readonly<Record<Tool, string>> = { cuop: 'cuop', cupy: 'CuPy', triton: 'Triton' };

const BAR = 18;
const BAR_GAP = 3;
const CLUSTER_GAP = 16;
const GROUP_GAP = 40;
const LEFT = 78;
const TOP = 96;
const PLOT_H = 340;
const BOTTOM = 64;
const RIGHT = 24;

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A decade of milliseconds as a tick label: 1e-3 → `1 µs`, 1e3 → `1 s`. */
export function tickLabel(decade: number): string {
  const [scale, unit] =
    decade >= 3
      ? [decade - 3, 's']
      : decade >= 0
        ? [decade, 'ms']
        : decade >= -3
          ? [decade + 3, 'µs']
          : [decade + 6, 'ns'];
  return `${10 ** scale} ${unit}`;
}

/** The rows the chart draws from: a kernel's timing rows (measured or skipped). */
export function chartRows(rows: readonly BenchRow[]): BenchRow[] {
  return rows.filter((r) => r.kernel !== undefined && r.series !== undefined && r.unit === 'ms');
}

/** The rows that get a bar: measured, positive. */
export function barRows(rows: readonly BenchRow[]): BenchRow[] {
  return chartRows(rows).filter((r) => r.value !== null && r.value > 0);
}

export function svgChart(report: BenchReport): string {
  const rows = chartRows(report.rows);
  const bars = barRows(report.rows);
  const values = bars.map((r) => r.value as number);
  // Decades of ms: at least 1 µs … 1 s, wider when a value is outside.
  const lo = Math.min(-3, Math.floor(Math.log10(Math.min(...values, 1))));
  // Headroom above the tallest bar for its rotated label.
  const hi = Math.max(3, Math.ceil(Math.log10(Math.max(...values, 1)) + 0.6));
  const y = (ms: number): number => TOP + PLOT_H * (1 - (Math.log10(ms) - lo) / (hi - lo));
  const baseline = TOP + PLOT_H;

  const groups = KERNELS.filter((k) => rows.some((r) => r.kernel === k));
  const toolsUsed = TOOLS.filter((t) => rows.some((r) => r.tool === t));
  const seriesOf = (tool: Tool): Series[] =>
    SERIES.filter((s) => rows.some((r) => r.tool === tool && r.series === s));

  const body: string[] = [];
  const labels: string[] = [];
  let x = LEFT + GROUP_GAP / 2;
  for (const kernel of groups) {
    const groupStart = x;
    for (const tool of toolsUsed) {
      const series = seriesOf(tool);
      if (!rows.some((r) => r.kernel === kernel && r.tool === tool)) continue;
      const clusterStart = x;
      for (const s of series) {
        const row = rows.find((r) => r.kernel === kernel && r.tool === tool && r.series === s);
        const cx = x + BAR / 2;
        if (row && row.value !== null && row.value > 0) {
          const top = y(row.value);
          const f = formatMs(row.value);
          const label = `${f.value} ${f.unit}`;
          body.push(
            `<rect class="bar" data-scenario="${escapeXml(row.name)}" data-tool="${tool}" data-series="${s}" ` +
              `x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${BAR}" height="${(baseline - top).toFixed(1)}" ` +
              `fill="${COLORS[s]}"><title>${escapeXml(`${TOOL_LABEL[tool]} ${kernel} ${s}: ${label}`)}</title></rect>`,
          );
          body.push(
            `<text class="value" x="${cx.toFixed(1)}" y="${(top - 4).toFixed(1)}" ` +
              `transform="rotate(-90 ${cx.toFixed(1)} ${(top - 4).toFixed(1)})">${escapeXml(label)}</text>`,
          );
        } else {
          body.push(
            `<text class="na" x="${cx.toFixed(1)}" y="${(baseline - 4).toFixed(1)}" ` +
              `transform="rotate(-90 ${cx.toFixed(1)} ${(baseline - 4).toFixed(1)})">n/a</text>`,
          );
        }
        x += BAR + BAR_GAP;
      }
      x -= BAR_GAP;
      if (toolsUsed.length > 1) {
        labels.push(
          `<text class="tool" x="${((clusterStart + x) / 2).toFixed(1)}" y="${baseline + 16}">${TOOL_LABEL[tool]}</text>`,
        );
      }
      x += CLUSTER_GAP;
    }
    x -= CLUSTER_GAP;
    labels.push(
      `<text class="kernel" x="${((groupStart + x) / 2).toFixed(1)}" y="${baseline + (toolsUsed.length > 1 ? 36 : 20)}">${escapeXml(kernel)}</text>`,
    );
    x += GROUP_GAP;
  }
  const compiler = report.compiler ? `${report.compiler.id} ${report.compiler.version}` : '';
  const title = 'cuop bench: first compile vs cache hits';
  const subtitle =
    `${report.machine.description} · ${report.date.slice(0, 10)} · ${compiler} · ${report.arch}` +
    `${report.launch ? '' : ' (compiled to the image, no module load: no GPU)'}`;
  // Wide enough for the bars, the subtitle and the legend (about 6.5 px a character at 12 px).
  const plotRight = Math.max(x - GROUP_GAP / 2, LEFT + subtitle.length * 6.5, LEFT + 560);
  const width = Math.ceil(plotRight + RIGHT);
  const shift = (plotRight - (x - GROUP_GAP / 2)) / 2;
  const height = TOP + PLOT_H + BOTTOM;

  const axis: string[] = [];
  for (let d = lo; d <= hi; d++) {
    const ty = y(10 ** d).toFixed(1);
    axis.push(`<line class="grid" x1="${LEFT}" y1="${ty}" x2="${plotRight.toFixed(1)}" y2="${ty}"/>`);
    axis.push(`<text class="tick" x="${LEFT - 8}" y="${ty}">${tickLabel(d)}</text>`);
  }
  axis.push(`<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${baseline}"/>`);
  axis.push(
    `<line class="axis" x1="${LEFT}" y1="${baseline}" x2="${plotRight.toFixed(1)}" y2="${baseline}"/>`,
  );
  axis.push(
    `<text class="axis-title" x="18" y="${TOP + PLOT_H / 2}" transform="rotate(-90 18 ${TOP + PLOT_H / 2})">` +
      'time to a ready kernel (log scale, lower is better)</text>',
  );

  const legend: string[] = [];
  let lx = LEFT;
  for (const s of SERIES.filter((s) => rows.some((r) => r.series === s))) {
    legend.push(`<rect class="swatch" x="${lx}" y="62" width="12" height="12" fill="${COLORS[s]}"/>`);
    legend.push(`<text class="legend" x="${lx + 17}" y="72">${s}</text>`);
    lx += 17 + s.length * 7 + 18;
  }
  legend.push(`<text class="legend" x="${lx}" y="72">n/a: not measured (see the table)</text>`);

  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">`,
    '<style>',
    '.title { font-size: 18px; font-weight: 600; fill: #111; }',
    '.subtitle { font-size: 12px; fill: #444; }',
    '.tick { font-size: 11px; fill: #333; text-anchor: end; dominant-baseline: middle; }',
    '.grid { stroke: #e3e3e3; stroke-width: 1; }',
    '.axis { stroke: #333; stroke-width: 1; }',
    '.axis-title { font-size: 12px; fill: #333; text-anchor: middle; }',
    '.value { font-size: 10px; fill: #222; dominant-baseline: middle; }',
    '.na { font-size: 10px; fill: #999; dominant-baseline: middle; }',
    '.kernel { font-size: 13px; font-weight: 600; fill: #111; text-anchor: middle; }',
    '.tool { font-size: 11px; fill: #444; text-anchor: middle; }',
    '.legend { font-size: 12px; fill: #333; }',
    '</style>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text class="title" x="${LEFT}" y="28">${escapeXml(title)}</text>`,
    `<text class="subtitle" x="${LEFT}" y="48">${escapeXml(subtitle)}</text>`,
    ...legend,
    ...axis,
    // The groups centred in a plot wider than they are (a short run, a long subtitle).
    `<g transform="translate(${shift.toFixed(1)} 0)">`,
    ...body,
    ...labels,
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}
