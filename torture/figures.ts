// The torture harness's figures: each scenario returns rows; a row with `mustBe` fails the run when its value differs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Figure {
  /** The scenario's name (faults, crashes, load, hostile, network, bad-input). */
  readonly scenario: string;
  /** What was counted or measured, e.g. "bad images returned". */
  readonly figure: string;
  readonly value: number;
  /** Unit or a short note ("per s", "of 10 000"). */
  readonly unit?: string;
  /** The value the figure must have (0 for "bad images returned"); the run fails otherwise. */
  readonly mustBe?: number;
}

export interface ScenarioOptions {
  /** The CI version: smaller counts and shorter runs (seconds, not minutes). */
  readonly short: boolean;
  /** A fresh directory of the scenario's own, removed after it. */
  readonly workDir: string;
  /** Progress lines (stderr). */
  readonly log: (line: string) => void;
  /** A seed for the scenario's random choices, printed so a failing run can be repeated. */
  readonly seed: number;
}

export interface Scenario {
  readonly name: string;
  /** One line: what it does. */
  readonly description: string;
  run(o: ScenarioOptions): Promise<Figure[]>;
}

/** A small deterministic generator (mulberry32): the same seed, the same faults. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function withWorkDir<T>(name: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `cuop-torture-${name}-`));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

export const failed = (f: Figure): boolean => f.mustBe !== undefined && f.value !== f.mustBe;

export function markdownTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.scenario,
    f.figure,
    Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(2),
    f.unit ?? '',
    f.mustBe === undefined ? '' : failed(f) ? `**FAIL** (must be ${f.mustBe})` : `ok (must be ${f.mustBe})`,
  ]);
  const head = ['scenario', 'figure', 'value', 'unit', 'check'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
