// Crashes: child processes publish large entries through KernelCache.getOrCompile and are killed with SIGKILL at
// random moments (timing + many trials: nothing in src/ is hooked). After each trial a fresh cache in this process
// reads every key: an entry returned whose image is not exactly the one written is a torn entry. Then the leftovers
// of the killed writers (temp files, locks, half entries) are counted, maintenance sweeps, and they are counted again.
import { fork } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KernelCache } from '../src/cache/kernel-cache.js';
import { crashCompile, crashImage, crashSpec } from './crash-kit.js';
import type { CrashWriterArgs } from './crash-writer.js';
import { random, type Figure, type Scenario } from './figures.js';

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));
const quiet = { warn: (): void => {}, debug: (): void => {} };
const WRITER_DEADLINE_MS = 30_000;

interface WriterOutcome {
  killed: boolean;
  finished: boolean;
  deadline: boolean;
  /** ms from the writer's "ready" to its end (for the calibration run). */
  ms: number;
}

/** Starts a writer, kills it `killAfterMs` after it is ready (never when undefined), resolves when it is gone. */
function runWriter(args: CrashWriterArgs, killAfterMs: number | undefined): Promise<WriterOutcome> {
  return new Promise((resolve) => {
    const child = fork(WRITER, [JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let readyAt = Date.now();
    let finished = false;
    let deadline = false;
    const timers: NodeJS.Timeout[] = [];
    timers.push(
      setTimeout(() => {
        deadline = true;
        child.kill('SIGKILL');
      }, WRITER_DEADLINE_MS),
    );
    child.on('message', (m) => {
      if (m === 'ready') {
        readyAt = Date.now();
        if (killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), killAfterMs));
      } else if (m === 'done') finished = true;
    });
    child.on('error', () => {});
    child.once('exit', (_code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ killed: signal === 'SIGKILL' && !deadline, finished, deadline, ms: Date.now() - readyAt });
    });
  });
}

/** What killed (or finished) writers left in a cache directory. */
export interface Leftovers {
  temps: number;
  locks: number;
  /** Kernel files that are not the live kernel of a committed entry. */
  orphanKernels: number;
  /** Metadata files whose kernel is not there. */
  halfEntries: number;
  statsTemps: number;
}

const list = (d: string): string[] => {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
};

/** Counts the leftovers in `dir`: temp files, locks, kernels of no entry, entries of no kernel, stats temps. */
export function leftovers(dir: string): Leftovers {
  const live = new Set<string>();
  let halfEntries = 0;
  for (const s of list(join(dir, 'metadata'))) {
    for (const n of list(join(dir, 'metadata', s))) {
      const key = n.replace(/\.json$/, '');
      let kernel: string;
      try {
        const codec = (JSON.parse(readFileSync(join(dir, 'metadata', s, n), 'utf8')) as { codec: string })
          .codec;
        kernel = `${key}.cubin${codec === 'gzip' ? '.gz' : ''}`;
      } catch {
        halfEntries++; // unreadable metadata: a half entry as well
        continue;
      }
      if (lstatSync(join(dir, 'kernels', s, kernel), { throwIfNoEntry: false })?.isFile()) live.add(kernel);
      else halfEntries++;
    }
  }
  let orphanKernels = 0;
  for (const s of list(join(dir, 'kernels')))
    for (const n of list(join(dir, 'kernels', s))) if (!live.has(n)) orphanKernels++;
  return {
    temps: list(join(dir, 'temp')).length,
    locks: list(join(dir, 'locks')).length,
    orphanKernels,
    halfEntries,
    statsTemps: list(join(dir, 'stats')).filter((n) => n.endsWith('.tmp')).length,
  };
}
export const sum = (l: Leftovers): number =>
  l.temps + l.locks + l.orphanKernels + l.halfEntries + l.statsTemps;

export async function runCrashes(o: {
  short: boolean;
  workDir: string;
  seed: number;
  log: (l: string) => void;
}): Promise<Figure[]> {
  const rand = random(o.seed ^ 0x5eed);
  const dir = join(o.workDir, 'cache');
  const wantKilled = o.short ? 40 : 500;
  const perTrial = 4;
  const keysPerTrial = 3;
  const maxBytes = o.short ? 2 * 2 ** 20 : 4 * 2 ** 20;
  const maxTrials = Math.ceil((wantKilled / perTrial) * 3);
  const shuffled = (): number[] => {
    const ks = Array.from({ length: keysPerTrial }, (_, i) => i);
    for (let i = ks.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [ks[i], ks[j]] = [ks[j]!, ks[i]!];
    }
    return ks;
  };
  crashImage(0, 0, maxBytes); // the cubins exist before the writers start (nvcc runs here, once)
  // Calibration: one writer left to finish; kills land anywhere from its start to about its end.
  const cal = await runWriter(
    { dir: join(o.workDir, 'calibration'), trial: 0, keys: shuffled(), maxBytes, codec: 'none' },
    undefined,
  );
  // Four writers share two cores: each takes about twice as long as the one alone.
  const span = Math.max(20, cal.ms * 2);
  o.log(`crashes: a writer takes ${cal.ms} ms after it is ready; kills within ${span.toFixed(0)} ms`);

  let writers = 0;
  let killed = 0;
  let finishedFirst = 0;
  let deadlines = 0;
  let torn = 0;
  let readerErrors = 0;
  let found = 0;
  let absent = 0;
  let checked = 0;
  let trials = 0;
  let waitedMax = 0;
  const before: Leftovers = { temps: 0, locks: 0, orphanKernels: 0, halfEntries: 0, statsTemps: 0 };
  const after: Leftovers = { ...before };
  let trialsWithTemps = 0;
  let trialsWithLocks = 0;
  let trialsWithOrphans = 0;
  const tornCases: string[] = [];
  const started = Date.now();
  while (killed < wantKilled && trials < maxTrials) {
    const trial = ++trials;
    const runs: Promise<WriterOutcome>[] = [];
    for (let w = 0; w < perTrial; w++) {
      const args: CrashWriterArgs = {
        dir,
        trial,
        keys: shuffled(),
        maxBytes,
        codec: rand() < 0.5 ? 'none' : 'gzip',
      };
      runs.push(runWriter(args, rand() * span));
    }
    for (const r of await Promise.all(runs)) {
      writers++;
      if (r.killed) killed++;
      else if (r.finished) finishedFirst++;
      if (r.deadline) deadlines++;
    }
    // The reader: every key of the trial, through a fresh cache that never compiles (lookupSync).
    const reader = new KernelCache({ dir, env: {}, logger: quiet });
    for (let k = 0; k < keysPerTrial; k++) {
      checked++;
      try {
        const r = reader.lookupSync(crashSpec(trial, k));
        if (r === undefined) absent++;
        else {
          found++;
          if (!r.entry.image.equals(crashImage(trial, k, maxBytes))) {
            torn++;
            if (tornCases.length < 5)
              tornCases.push(`trial ${trial} key ${k}: ${r.entry.image.length} bytes`);
          }
        }
      } catch {
        readerErrors++;
      }
    }
    await reader.close();
    const l = leftovers(dir);
    if (l.temps > 0) trialsWithTemps++;
    if (l.locks > 0) trialsWithLocks++;
    if (l.orphanKernels > 0) trialsWithOrphans++;
    // One key compiled by a caller now: a dead writer's lock must not hold it up for long.
    const t0 = Date.now();
    const waiter = new KernelCache({ dir, env: {}, logger: quiet, policy: { lockWaitMs: 10_000 } });
    const k = Math.floor(rand() * keysPerTrial);
    try {
      const r = await waiter.getOrCompile(crashSpec(trial, k), crashCompile(trial, k, maxBytes));
      if (!r.entry.image.equals(crashImage(trial, k, maxBytes))) torn++;
    } catch {
      readerErrors++;
    }
    await waiter.close();
    waitedMax = Math.max(waitedMax, Date.now() - t0);
    // The sweep: maintenance with no grace (every writer is dead), then count what is left.
    const sweeper = new KernelCache({ dir, env: {}, logger: quiet, policy: { orphanGraceMs: 0 } });
    await sweeper.pruneStale();
    await sweeper.runMaintenance({ wait: true });
    await sweeper.close();
    const a = leftovers(dir);
    for (const f of Object.keys(before) as (keyof Leftovers)[]) {
      before[f] += l[f];
      after[f] += a[f];
    }
    if (trial % 25 === 0) {
      o.log(
        `crashes: ${killed} writers killed in ${trial} trials, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  }
  for (const c of tornCases) o.log(`crashes: torn ${c}`);

  const f = (figure: string, value: number, unit?: string, mustBe?: number): Figure => ({
    scenario: 'crashes',
    figure,
    value,
    ...(unit !== undefined ? { unit } : {}),
    ...(mustBe !== undefined ? { mustBe } : {}),
  });
  return [
    f('writers started', writers, `${trials} trials of ${perTrial} on ${keysPerTrial} shared keys each`),
    f('writers killed with SIGKILL', killed, `at 0-${span.toFixed(0)} ms after ready`),
    f('writers that finished before their kill', finishedFirst),
    f('writers past the 30 s deadline', deadlines, undefined, 0),
    f('keys read after the kills', checked, `found ${found}, absent ${absent}`),
    f('torn entries visible', torn, 'image not exactly the one written', 0),
    f('reader errors', readerErrors, undefined, 0),
    f(
      'kills that left temp files / locks / orphan kernels',
      trialsWithTemps,
      `${trialsWithLocks} / ${trialsWithOrphans} (trials)`,
    ),
    f('longest lookup after a kill (lock of a dead writer)', waitedMax, 'ms'),
    f(
      'leftovers before the sweep',
      sum(before),
      `temp ${before.temps}, locks ${before.locks}, orphan kernels ${before.orphanKernels}, half entries ${before.halfEntries}, stats temp ${before.statsTemps}`,
    ),
    f(
      'leftovers after the sweep',
      sum(after),
      `temp ${after.temps}, locks ${after.locks}, orphan kernels ${after.orphanKernels}, half entries ${after.halfEntries}, stats temp ${after.statsTemps}`,
      0,
    ),
  ];
}

const scenario: Scenario = {
  name: 'crashes',
  description:
    'writers of large entries killed with SIGKILL at random moments → torn entries, leftovers swept',
  run: (o) => runCrashes(o),
};
export default scenario;
