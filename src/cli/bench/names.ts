// The names of `cuop bench`: its scenario groups (what --only names), kernels, chart series, and the row every
// measurement becomes (the --json shape, docs/cli-json.md). Nothing heavy here: program.ts parses --only with it.
import { InvalidArgumentError } from 'commander';

/** The kernels of the compile / hit rows, in chart order. */
export const KERNELS = ['gemm-256', 'gemm-1024', 'gemm-2048', 'heavy-cg'] as const;
export type KernelName = (typeof KERNELS)[number];

/** Everything --only can name: one group per kernel, then the cache-wide scenarios. */
export const GROUPS = [...KERNELS, 'storage', 'hit-rate', 'direct', 'concurrent'] as const;
export type GroupName = (typeof GROUPS)[number];

/** The timing series of the chart, in bar order. */
export const SERIES = ['compile', 'memory hit', 'disk hit', 'remote hit'] as const;
export type Series = (typeof SERIES)[number];

export type Tool = 'cuop' | 'cupy' | 'triton';

/** One measurement (or one skipped one) of the report. */
export interface BenchRow {
  /** Unique and stable across runs, e.g. `gemm-256/compile`, `cupy/gemm-256/disk hit`, `storage/1000/disk`. */
  readonly name: string;
  /** The scenario group (what --only names); `peers` for a peer that did not run at all. */
  readonly group: GroupName | 'peers';
  readonly tool: Tool;
  /** The chart's group (timing rows of a kernel only). */
  readonly kernel?: KernelName;
  /** The chart's series (timing rows of a kernel only). */
  readonly series?: Series;
  /** null when skipped. Times in ms, sizes in bytes, rates in percent, ratios as factors. */
  readonly value: number | null;
  readonly unit: 'ms' | 'bytes' | '%' | 'x';
  /** A ratio where one is defined (see ratioOf). */
  readonly ratio?: number;
  /** What the ratio divides, e.g. `compile / this` or `cuop / direct nvcc`. */
  readonly ratioOf?: string;
  /** How the value was measured. */
  readonly method: string;
  readonly notes?: string;
  /** Why there is no value. */
  readonly skipped?: string;
}

/** `--only a,b`: known group names, else a usage error that lists them. */
export function parseOnly(value: string): GroupName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(GROUPS as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(
      `${unknown.length ? `unknown scenario ${unknown.join(', ')}` : 'no scenario named'}; ` +
        `pick from ${GROUPS.join(', ')}`,
    );
  }
  return names as GroupName[];
}
