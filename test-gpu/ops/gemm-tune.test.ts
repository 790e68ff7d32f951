// GPU test of GEMM autotuning that remembers: a child process tunes (times the candidates, stores the records in the
// cache directory), a second, fresh child process reuses the winner without timing or compiling any other candidate,
// and a third (float32) with the exhaustive set reuses the 'auto' candidates' timings and times only the new ones. Each child
// checks its result against an untuned Gemm's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { gpuSkipReason } from '../helpers.js';

const child = fileURLToPath(new URL('./child-tune.js', import.meta.url));

interface ChildReport {
  stats: {
    tuningRuns: number;
    tuningReused: number;
    tuningRejected: number;
    candidatesTimed: number;
    timingsReused: number;
  };
  reused: boolean;
  timed: number;
  timingsReused: number;
  candidates: number;
  winner: unknown;
  compiles: number;
  forwardMs: number;
  relError: number;
}

function runChild(dir: string, mode: string, dims: number[], dtype: string): ChildReport {
  const out = execFileSync(process.execPath, [child, dir, mode, ...dims.map(String), dtype], {
    encoding: 'utf8',
    env: { ...process.env, CUOP_CACHE_DIR: dir },
    timeout: 600_000,
  });
  return JSON.parse(out.trim().split('\n').pop() as string) as ChildReport;
}

for (const dtype of ['float16', 'float32']) {
  test(
    `${dtype}: tuning picks a config; a fresh process reuses it without timing; a larger set times only the new`,
    { skip: gpuSkipReason },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'cuop-gpu-tune-'));
      try {
        const dims = [2048, 2048, 1024];
        const first = runChild(dir, 'auto', dims, dtype);
        assert.equal(first.reused, false);
        assert.equal(first.stats.tuningRuns, 1);
        assert.ok(first.timed >= 3, `timed ${first.timed} candidates`);
        assert.ok(first.winner !== null);
        assert.ok(
          first.relError < (dtype === 'float32' ? 1e-5 : 1e-2),
          `tuned result error ${first.relError}`,
        );

        const second = runChild(dir, 'auto', dims, dtype);
        assert.equal(second.reused, true, 'the fresh process reused the record');
        assert.equal(second.timed, 0);
        assert.deepEqual(second.stats, {
          ...second.stats,
          tuningRuns: 0,
          tuningReused: 1,
          tuningRejected: 0,
          candidatesTimed: 0,
        });
        assert.deepEqual(second.winner, first.winner);
        assert.ok(second.compiles === 0, `the winner came from the disk cache (${second.compiles} compiles)`);
        assert.ok(second.relError < (dtype === 'float32' ? 1e-5 : 1e-2));
        console.log(
          `# ${dtype}: tuning forward ${first.forwardMs.toFixed(0)} ms, reusing forward ${second.forwardMs.toFixed(1)} ms`,
        );

        // Another shape in the same bucket reuses the record too.
        const sameBucket = runChild(dir, 'auto', [1500, 2000, 1000], dtype);
        assert.equal(sameBucket.reused, true, 'a shape in the same bucket reuses the record');
        assert.equal(sameBucket.timed, 0);

        // The exhaustive set of float16 is ~190 configurations (minutes of compiling): float32's 28 show the reuse.
        if (dtype !== 'float32') return;
        const grown = runChild(dir, 'exhaustive', dims, dtype);
        assert.equal(grown.reused, false);
        assert.equal(grown.timingsReused, first.timed, "the 'auto' candidates' timings were reused");
        assert.equal(grown.timed, grown.candidates - first.timed, 'only the new candidates were timed');
        assert.ok(grown.relError < (dtype === 'float32' ? 1e-5 : 1e-2));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
