// Load: real child processes (torture/load-worker.ts; 32, or 8 with --short) for a fixed time doing mixed lookups,
// publishes, prunes, shrinks, verifies and clears on one small cache (a disk bound far below what the keys need, so
// eviction runs all the time), first with the disk alone, then with a real redis-server as the shared tier. The
// "compiles" are fake (a few ms, then a real nvcc image made distinct per key): the load is on the cache. Figures:
// errors thrown to callers and bad images (0), lookups per second, compiles against distinct keys and compiles of
// one key that overlapped in time (0: one compile per key at a time across processes), leftovers after a final
// sweep (0).
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { leftovers, sum, type Leftovers } from './crashes.js';
import type { Figure, Scenario, ScenarioOptions } from './figures.js';
import {
  freePort,
  loadImage,
  loadSpec,
  overlappingCompiles,
  quantile,
  redisAvailable,
  RedisProcess,
  type LoadJob,
  type LoadReport,
} from './load-kit.js';

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));
const quiet = { warn: (): void => {}, debug: (): void => {} };

export interface Fleet {
  /** Tells every worker the phase its lookups now count in. */
  phase(name: string): void;
  readonly started: number;
}

/** What a fleet run gives back: the reports of the workers that made one, and what became of the others. */
export interface FleetResult {
  readonly reports: LoadReport[];
  /** Workers that died (a crash, an uncaught error) or were killed at the deadline, without a report. */
  readonly crashed: number;
  readonly crashes: readonly string[];
}

/**
 * Starts one worker per job, waits until all are ready, runs `drive` (which decides how long they run and what
 * happens meanwhile), then stops them and collects their reports. A worker that dies is counted, never thrown: the
 * others run on, and the scenario reports it.
 */
export async function runFleet(
  jobs: readonly LoadJob[],
  drive: (fleet: Fleet) => Promise<void>,
  deadlineMs: number,
): Promise<FleetResult> {
  const children = jobs.map((j) =>
    fork(WORKER, [JSON.stringify(j)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }),
  );
  const crashes: string[] = [];
  const ready = children.map(
    (c) =>
      new Promise<void>((resolve) => {
        c.on('message', (m) => m === 'ready' && resolve());
        c.once('exit', () => resolve());
      }),
  );
  const reports = children.map(
    (c, i) =>
      new Promise<LoadReport | undefined>((resolve) => {
        let report: LoadReport | undefined;
        c.on('message', (m) => {
          if (m !== 'ready') report = m as LoadReport;
        });
        c.on('error', () => {});
        c.once('exit', (code, signal) => {
          if (!report) crashes.push(`worker ${i} ended (${signal ?? `exit code ${code}`}) without a report`);
          resolve(report);
        });
      }),
  );
  const kill = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), deadlineMs);
  try {
    await Promise.all(ready);
    const send = (m: object): void => {
      for (const c of children) if (c.connected) c.send(m, () => {});
    };
    await drive({ phase: (name) => send({ phase: name }), started: Date.now() });
    send({ stop: true });
    const got = await Promise.all(reports);
    return {
      reports: got.filter((r): r is LoadReport => r !== undefined),
      crashed: crashes.length,
      crashes,
    };
  } finally {
    clearTimeout(kill);
    // Whatever happened, no worker outlives the run.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

const WEIGHTS = { publish: 0.08, sync: 0.08, prune: 0.004, shrink: 0.004, verify: 0.002, clear: 0.0005 };

interface Round {
  readonly label: string;
  readonly reports: LoadReport[];
  readonly crashed: number;
  readonly crashes: readonly string[];
  readonly seconds: number;
  readonly before: Leftovers;
  readonly after: Leftovers;
  readonly integrity: number;
  readonly badAfter: number;
}

async function round(
  o: ScenarioOptions,
  label: string,
  workers: number,
  seconds: number,
  redis: RedisProcess | undefined,
): Promise<Round> {
  const dir = join(o.workDir, label.replace(/\W+/g, '-'));
  const keys = 64;
  // About a fifth of what the shared keys alone take: eviction never rests.
  const maxDiskBytes = 256 * 1024;
  const jobs: LoadJob[] = Array.from({ length: workers }, (_, w) => ({
    dir,
    worker: w,
    seed: (o.seed * 31 + w) >>> 0,
    keys,
    loops: 2,
    maxDiskBytes,
    weights: WEIGHTS,
    checkAtEnd: false,
    ...(redis
      ? { remote: { url: redis.url, prefix: `load${o.seed}:`, timeoutMs: 100, breakerCooldownMs: 1_000 } }
      : {}),
  }));
  let ranMs = 0;
  const { reports, crashed, crashes } = await runFleet(
    jobs,
    async (f) => {
      await new Promise((r) => setTimeout(r, seconds * 1000));
      ranMs = Date.now() - f.started;
    },
    seconds * 1000 + 60_000,
  );
  const before = leftovers(dir);
  // The final sweep: every worker is gone, no grace needed.
  const sweeper = new KernelCache({ dir, env: {}, logger: quiet, policy: { orphanGraceMs: 0 } });
  await sweeper.pruneStale();
  await sweeper.runMaintenance({ wait: true });
  const integrity = (await sweeper.validateCacheIntegrity({ repair: false })).problems.length;
  // Whatever survived is the true image of its key.
  let badAfter = 0;
  for (let id = 0; id < keys; id++) {
    const r = sweeper.lookupSync(loadSpec(id));
    if (r && !r.entry.image.equals(loadImage(id))) badAfter++;
  }
  await sweeper.close();
  for (const c of crashes) o.log(`load: ${label}: ${c}`);
  return {
    label,
    reports,
    crashed,
    crashes,
    seconds: ranMs / 1000,
    before,
    after: leftovers(dir),
    integrity,
    badAfter,
  };
}

function roundFigures(r: Round, workers: number): Figure[] {
  const f = (figure: string, value: number, unit?: string, mustBe?: number): Figure => ({
    scenario: 'load',
    figure: `${r.label}: ${figure}`,
    value,
    ...(unit !== undefined ? { unit } : {}),
    ...(mustBe !== undefined ? { mustBe } : {}),
  });
  const ops: Record<string, number> = {};
  const tiers: Record<string, number> = {};
  let lookups = 0;
  const ms: number[] = [];
  for (const rep of r.reports) {
    for (const [k, v] of Object.entries(rep.ops)) ops[k] = (ops[k] ?? 0) + v;
    for (const [k, v] of Object.entries(rep.tiers)) tiers[k] = (tiers[k] ?? 0) + v;
    for (const p of Object.values(rep.phases)) {
      lookups += p.lookups;
      ms.push(...p.ms);
    }
  }
  ms.sort((a, b) => a - b);
  const compiles = r.reports.flatMap((rep) => rep.compiles);
  const distinct = new Set(compiles.map((c) => c[0])).size;
  const errors = r.reports.reduce((s, rep) => s + rep.errors, 0);
  const bad = r.reports.reduce((s, rep) => s + rep.bad, 0);
  const samples = r.reports.flatMap((rep) => rep.errorSamples).slice(0, 3);
  const remoteHits = r.reports.reduce((s, rep) => s + Number(rep.remote?.['hits'] ?? 0), 0);
  const opsText = Object.entries(ops)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const tierText = Object.entries(tiers)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    f(
      'operations',
      Object.values(ops).reduce((s, v) => s + v, 0),
      `${workers} processes × ${r.seconds.toFixed(1)} s: ${opsText}`,
    ),
    f('processes that crashed or hung', r.crashed, r.crashes[0], 0),
    f('errors thrown to callers', errors, samples.join(' | ') || undefined, 0),
    f(
      'lookups per second',
      lookups / r.seconds,
      `${lookups} lookups, answered by ${tierText}${remoteHits ? ` (remote hits ${remoteHits})` : ''}`,
    ),
    f(
      'lookup ms p50 / p99 / max',
      quantile(ms, 0.5),
      `p99 ${quantile(ms, 0.99).toFixed(1)}, max ${(ms.at(-1) ?? 0).toFixed(1)}`,
    ),
    f('compiles', compiles.length, `against ${distinct} distinct keys`),
    f('compiles of one key overlapping in time', overlappingCompiles(compiles), 'across processes', 0),
    f('bad images returned', bad, 'byte for byte against the true image', 0),
    f('entries not sound after the run', r.integrity + r.badAfter, 'integrity problems + wrong images', 0),
    f(
      'leftovers before the final sweep',
      sum(r.before),
      `temp ${r.before.temps}, locks ${r.before.locks}, orphan kernels ${r.before.orphanKernels}, half entries ${r.before.halfEntries}, stats temp ${r.before.statsTemps}`,
    ),
    f(
      'leftovers after the final sweep',
      sum(r.after),
      `temp ${r.after.temps}, locks ${r.after.locks}, orphan kernels ${r.after.orphanKernels}, half entries ${r.after.halfEntries}, stats temp ${r.after.statsTemps}`,
      0,
    ),
  ];
}

export async function runLoad(o: ScenarioOptions): Promise<Figure[]> {
  const workers = o.short ? 8 : 32;
  const seconds = o.short ? 4 : 60;
  for (let id = 0; id < 8; id++) loadImage(id); // nvcc runs here, once, before the workers start
  const figures: Figure[] = [];
  const disk = await round(o, 'disk only', workers, seconds, undefined);
  figures.push(...roundFigures(disk, workers));
  o.log(`load: disk only done`);
  if (!redisAvailable()) {
    figures.push({ scenario: 'load', figure: 'with Redis: skipped (no redis-server here)', value: 0 });
    return figures;
  }
  const redis = new RedisProcess(await freePort());
  await redis.start();
  try {
    const shared = await round(o, 'disk + Redis', workers, seconds, redis);
    figures.push(...roundFigures(shared, workers));
  } finally {
    await redis.stop();
  }
  return figures;
}

const scenario: Scenario = {
  name: 'load',
  description:
    'processes doing mixed lookups, publishes, prunes, shrinks, verifies and clears on one small cache, without and with Redis',
  run: (o) => runLoad(o),
};
export default scenario;
