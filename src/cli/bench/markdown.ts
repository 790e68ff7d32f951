// The report as markdown: a title line, one table row per scenario, then how each was measured.
import type { BenchReport } from './run.js';
import { formatRatio, formatValue } from './format.js';

/** `|` and line breaks would end a table cell. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

export function markdownReport(r: BenchReport): string {
  const lines: string[] = [];
  const compiler = r.compiler ? `${r.compiler.id} ${r.compiler.version}` : 'no compiler';
  lines.push(`## cuop bench — ${r.machine.description}`);
  lines.push('');
  lines.push(
    `${r.date.slice(0, 10)}, ${compiler}, target ${r.arch}` +
      `${r.launch ? ', kernels loaded on the GPU' : `, compiled up to the image (${r.machine.noGpu ?? 'no GPU'})`}` +
      `${r.quick ? ', --quick' : ''}`,
  );
  lines.push('');
  lines.push('| scenario | value | unit | ratio | notes |');
  lines.push('| --- | ---: | --- | ---: | --- |');
  for (const row of r.rows) {
    const v =
      row.value === null
        ? { value: '—', unit: row.unit === 'bytes' ? 'bytes' : row.unit }
        : formatValue(row.value, row.unit);
    const ratio = row.ratio !== undefined ? `${formatRatio(row.ratio)} (${row.ratioOf ?? ''})` : '';
    const notes = row.skipped !== undefined ? `skipped: ${row.skipped}` : (row.notes ?? '');
    lines.push(`| ${cell(row.name)} | ${v.value} | ${v.unit} | ${cell(ratio)} | ${cell(notes)} |`);
  }
  lines.push('');
  lines.push('How each was measured:');
  lines.push('');
  // One line per distinct method, naming the rows that share it.
  const byMethod = new Map<string, string[]>();
  for (const row of r.rows) byMethod.set(row.method, [...(byMethod.get(row.method) ?? []), row.name]);
  for (const [method, names] of byMethod) lines.push(`- ${names.join(', ')}: ${method}`);
  return lines.join('\n');
}
