// The human forms of `cuop cache stats | verify | prune | shrink`: a few aligned lines each. Their --json forms
// are the reports themselves, documented in docs/cli-json.md.
import type { CacheStats, CacheStatsSnapshot, IntegrityReport, MaintenanceReport } from '../cache/index.js';
import { formatBytes, formatMs } from './format.js';

const line = (label: string, text: string): string => `${label.padEnd(14)}${text}`;
const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;

/** "memory 3, disk 1" of the non-zero parts of a counter record (or "none"). */
function parts(rec: Readonly<Record<string, number | string>>): string {
  const shown = Object.entries(rec).filter(([, v]) => v !== 0);
  return shown.length === 0 ? 'none' : shown.map(([k, v]) => `${k} ${v}`).join(', ');
}

function snapshotLines(s: CacheStatsSnapshot): string[] {
  let hits = 0;
  for (const v of Object.values(s.hits)) hits += v;
  return [
    line('lookups', `${hits + s.misses}: ${hits} hits (${parts(s.hits)}), ${s.misses} misses`),
    line('hit rate', `${pct(s.hitRate)} (disk and below: ${pct(s.diskHitRate)})`),
    line(
      'compiles',
      `${s.compiles} (${s.compileErrors} failed, ${s.coalesced} joined a running one), ${formatMs(s.compileMs)} ` +
        `compiling, ${formatMs(s.savedCompileMs)} saved by hits`,
    ),
    line('bytes', `${formatBytes(s.bytesRead)} read, ${formatBytes(s.bytesWritten)} written`),
    line('evictions', parts(s.evictions)),
    line(
      'problems',
      `${s.corruptFound} corrupt entries found, ${s.corruptRepaired} repaired, ${s.writeFailures} write failures`,
    ),
    line('locks', `${s.lockWaits} waits, ${s.lockTakeovers} stale locks taken over`),
    ...(Object.keys(s.remote).length > 0 ? [line('remote', parts(s.remote))] : []),
  ];
}

export function formatStats(s: CacheStats & { dir: string | null }): string {
  return [
    line('cache dir', s.dir ?? '(memory only)'),
    line('entries', `${s.cachedKernels.disk} on disk`),
    `all processes (${s.processFiles} stats files):`,
    ...snapshotLines(s.all).map((l) => `  ${l}`),
    ...Object.entries(s.tiers ?? {}).map(([name, t]) => line(`${name} tier`, `this process: ${parts(t)}`)),
  ].join('\n');
}

export function formatIntegrity(r: IntegrityReport): string {
  if (!r.ran) return 'verify: not run (no disk cache, or another process held the maintenance lock too long)';
  const out = [
    `checked ${r.checked} entries: ${r.ok} sound, ${r.problems.length} problems, ${r.repaired} repaired`,
  ];
  for (const p of r.problems) out.push(`  ${p.path}: ${p.problem}`);
  if (r.foreign.length > 0) out.push(`left alone (not cuop's files): ${r.foreign.length}`);
  for (const f of r.foreign) out.push(`  ${f}`);
  return out.join('\n');
}

export function formatMaintenance(what: string, r: MaintenanceReport): string {
  if (!r.ran)
    return `${what}: not run (no disk cache, or another process held the maintenance lock too long)`;
  const why = r.removed > 0 ? ` (${parts(r.byReason)})` : '';
  return (
    `${what}: removed ${r.removed} entries${why}, freed ${formatBytes(r.freedBytes)}; ` +
    `${r.entries} entries, ${formatBytes(r.bytes)} left`
  );
}
