// The cache's numbers as Prometheus metric families: one description (CACHE_METRICS) read from
// KernelCache#getStats(), two outputs: the text exposition format 0.0.4 here (`cuop cache stats --format
// prometheus`, for node_exporter's textfile collector) and an application's prom-client registry
// (src/api/metrics.ts). Names follow Prometheus's conventions: `cuop_cache_` prefix, counters end in `_total`, base
// units (seconds, bytes), ratios 0..1. See docs/metrics.md.
import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';
import type { CacheStats, CacheStatsSnapshot } from './stats.js';

/** Prometheus metric types cuop uses: counters only grow (until the process restarts); gauges are levels. */
export type MetricType = 'counter' | 'gauge';

/** Which counters: this cache object since it was created, or the persisted totals of every process of the directory. */
export type MetricScope = 'process' | 'all';

/** One value of a family, with its labels. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family: its name, help and type, and how to read its samples from the cache's stats. */
export interface MetricFamilyDescription {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** The family's samples now (none: the family is described without samples). */
  samples(stats: CacheStats, scope: MetricScope): MetricSample[];
}

const ms = (v: number): number => v / 1000;
const one = (value: number): MetricSample[] => [{ labels: {}, value }];
const counter = (
  name: string,
  help: string,
  read: (s: CacheStatsSnapshot) => number,
): MetricFamilyDescription => ({
  name,
  help,
  type: 'counter',
  labelNames: [],
  samples: (stats, scope) => one(read(stats[scope])),
});
/** A record of numbers → one sample per key, under `label`. */
const byLabel = (label: string, rec: Readonly<Record<string, number>>, keep = (_k: string) => true) =>
  Object.entries(rec)
    .filter(([k, v]) => typeof v === 'number' && Number.isFinite(v) && keep(k))
    .map(([k, value]) => ({ labels: { [label]: k }, value }));

/** camelCase counter names of the remote tier → the snake_case of label values. */
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const REMOTE_BYTES: Readonly<Record<string, string>> = { bytesIn: 'in', bytesOut: 'out' };

/** Every family the cache exposes, in output order. */
export const CACHE_METRICS: readonly MetricFamilyDescription[] = [
  {
    name: 'cuop_cache_hits_total',
    help: 'Lookups answered by a tier (memory, disk, remote; shared: published by another process while this one waited).',
    type: 'counter',
    labelNames: ['tier'],
    samples: (stats, scope) => byLabel('tier', stats[scope].hits),
  },
  counter('cuop_cache_misses_total', 'Lookups that ran a compile.', (s) => s.misses),
  counter('cuop_cache_compiles_total', 'Compiles that succeeded.', (s) => s.compiles),
  counter('cuop_cache_compile_errors_total', 'Compiles that failed (never cached).', (s) => s.compileErrors),
  counter(
    'cuop_cache_coalesced_total',
    'Lookups that joined a compile of the same key already running in the process.',
    (s) => s.coalesced,
  ),
  counter(
    'cuop_cache_compile_seconds_total',
    'Compile time of the compiles run on misses, as the compilers reported it.',
    (s) => ms(s.compileMs),
  ),
  counter(
    'cuop_cache_saved_compile_seconds_total',
    'Stored compile time of every hit (any tier): the compile time the cache saved.',
    (s) => ms(s.savedCompileMs),
  ),
  counter('cuop_cache_read_bytes_total', 'Bytes read from the disk tier.', (s) => s.bytesRead),
  counter('cuop_cache_written_bytes_total', 'Bytes written to the disk tier.', (s) => s.bytesWritten),
  {
    name: 'cuop_cache_evictions_total',
    help: 'Entries removed, by reason (memory: the LRU; size, count, expired, stale, orphan: disk maintenance).',
    type: 'counter',
    labelNames: ['reason'],
    samples: (stats, scope) => byLabel('reason', stats[scope].evictions),
  },
  counter(
    'cuop_cache_corrupt_found_total',
    'Entries that failed verification (or that the driver refused).',
    (s) => s.corruptFound,
  ),
  counter(
    'cuop_cache_corrupt_repaired_total',
    'Corrupt entries removed (the next lookup recompiles).',
    (s) => s.corruptRepaired,
  ),
  counter(
    'cuop_cache_write_failures_total',
    'Writes to a tier that failed (kernels stay in memory).',
    (s) => s.writeFailures,
  ),
  counter(
    'cuop_cache_lock_waits_total',
    'Lookups that waited for another process compiling the same key.',
    (s) => s.lockWaits,
  ),
  counter(
    'cuop_cache_lock_takeovers_total',
    'Stale compile locks of dead or hung processes taken over.',
    (s) => s.lockTakeovers,
  ),
  {
    name: 'cuop_cache_remote_events_total',
    help: 'The remote tier: hits, misses, errors, timeouts, breaker trips, rejected signatures, writes, leases, ...',
    type: 'counter',
    labelNames: ['event'],
    samples: (stats, scope) =>
      byLabel('event', stats[scope].remote, (k) => !(k in REMOTE_BYTES)).map((s) => ({
        labels: { event: snake(s.labels['event']!) },
        value: s.value,
      })),
  },
  {
    name: 'cuop_cache_remote_bytes_total',
    help: 'Bytes received from (in) and sent to (out) the remote tier.',
    type: 'counter',
    labelNames: ['direction'],
    samples: (stats, scope) =>
      byLabel('direction', stats[scope].remote, (k) => k in REMOTE_BYTES).map((s) => ({
        labels: { direction: REMOTE_BYTES[s.labels['direction']!]! },
        value: s.value,
      })),
  },
  {
    name: 'cuop_cache_kernels',
    help: "Kernels cached now: in this process's memory tier, and entries in the disk tier.",
    type: 'gauge',
    labelNames: ['tier'],
    samples: (stats) => byLabel('tier', stats.cachedKernels),
  },
  {
    name: 'cuop_cache_hit_ratio',
    help: 'hits / (hits + misses) over every tier; 0 before the first lookup.',
    type: 'gauge',
    labelNames: [],
    samples: (stats, scope) => one(stats[scope].hitRate),
  },
  {
    name: 'cuop_cache_persistent_hit_ratio',
    help: 'Hits below memory / (those hits + misses): what a restarted process gains from the cache.',
    type: 'gauge',
    labelNames: [],
    samples: (stats, scope) => one(stats[scope].diskHitRate),
  },
  {
    name: 'cuop_cache_remote_queued_writes',
    help: 'Writes the remote tier has queued and not yet sent (this process).',
    type: 'gauge',
    labelNames: ['tier'],
    samples: (stats) =>
      Object.entries(stats.tiers ?? {}).flatMap(([tier, t]) =>
        typeof t['queued'] === 'number' ? [{ labels: { tier }, value: t['queued'] }] : [],
      ),
  },
  {
    name: 'cuop_cache_remote_breaker_open',
    help: "1 while the remote tier's circuit breaker keeps lookups off the server (open or half-open), else 0.",
    type: 'gauge',
    labelNames: ['tier'],
    samples: (stats) =>
      Object.entries(stats.tiers ?? {}).flatMap(([tier, t]) =>
        typeof t['breaker'] === 'string'
          ? [{ labels: { tier }, value: t['breaker'] === 'closed' ? 0 : 1 }]
          : [],
      ),
  },
  {
    name: 'cuop_cache_stats_files',
    help: 'Per-process stats files summed into the all-process totals.',
    type: 'gauge',
    labelNames: [],
    samples: (stats) => one(stats.processFiles),
  },
];

// ------------------------------------------------------------------------------------ text exposition 0.0.4

/** The media type of the output of toPrometheusText (what an HTTP handler serving it sends). */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** HELP text: backslash and line feed escaped (format 0.0.4). */
export const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** A label value: backslash, double quote and line feed escaped. */
export const escapeLabelValue = (s: string): string =>
  s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** A sample value as the format writes it: Go's float syntax, +Inf/-Inf/NaN spelled out. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label name Prometheus would refuse, or one the families use themselves. */
export class MetricLabelError extends CuopError {
  override readonly name = 'MetricLabelError';
  constructor(readonly label: string) {
    super(
      `cannot add the label ${JSON.stringify(label)} to cuop's metrics: label names match [a-zA-Z_][a-zA-Z0-9_]*, ` +
        `do not start with __, and are none of the families' own (${OWN_LABELS.join(', ')}); rename it.`,
    );
    attachDetails(this, { label });
  }
}
registerErrorClass('MetricLabelError', MetricLabelError);

const OWN_LABELS = [...new Set(CACHE_METRICS.flatMap((f) => f.labelNames))];

export function checkLabelNames(names: readonly string[]): void {
  for (const n of names) {
    if (!LABEL_NAME.test(n) || n.startsWith('__') || OWN_LABELS.includes(n)) throw new MetricLabelError(n);
  }
}

function labelText(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** What toPrometheusText reports. */
export interface PrometheusTextOptions {
  /** Default `all`: the totals of every process that used the directory (what the CLI reports). */
  scope?: MetricScope;
  /** Labels added to every sample (e.g. `{ dir: '/var/cache/cuop' }` when one collector reads several caches). */
  labels?: Readonly<Record<string, string>>;
}

/**
 * The stats in the Prometheus text exposition format 0.0.4: a HELP and a TYPE line per family, then its samples, no
 * timestamps (node_exporter's textfile collector refuses them), one trailing line feed.
 */
export function toPrometheusText(stats: CacheStats, opts: PrometheusTextOptions = {}): string {
  const scope = opts.scope ?? 'all';
  const extra = opts.labels ?? {};
  checkLabelNames(Object.keys(extra));
  const lines: string[] = [];
  for (const f of CACHE_METRICS) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples(stats, scope)) {
      lines.push(`${f.name}${labelText({ ...extra, ...s.labels })} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
