// Deploy warm on the GPU: record a run of the operators, warm the manifest into an empty dir with the CLI, export a
// bundle, import it into a new dir, and run the same operators there with compiling off: zero compiles, the first
// forward a disk hit, the same results.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { readManifest } from '../../src/jit/index.js';
import { gpuSkipReason } from '../helpers.js';

const child = fileURLToPath(new URL('./child-ops-run.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  compiles: number;
  disk: number;
  firstForward: { ms: number; disk: number; compiles: number };
  sums: number[];
}

test(
  'record → warm → export → import → a run with enableJit: false compiles nothing',
  { skip: gpuSkipReason },
  () => {
    const work = mkdtempSync(join(tmpdir(), 'cuop-gpu-deploy-'));
    try {
      const manifest = join(work, 'ops.manifest');
      const env = { ...process.env, CUOP_CODE_CACHE: '0' };
      const run = (dir: string, mode: string, extra: NodeJS.ProcessEnv = {}): Run =>
        JSON.parse(
          execFileSync(process.execPath, [child, dir, mode], { encoding: 'utf8', env: { ...env, ...extra } })
            .trim()
            .split('\n')
            .at(-1)!,
        ) as Run;
      const recorded = run(join(work, 'run'), 'jit', { CUOP_RECORD: manifest });
      assert.ok(recorded.compiles >= 3, JSON.stringify(recorded));
      const entries = readManifest(manifest);
      assert.equal(entries.length, recorded.compiles, 'one manifest entry per kernel the run compiled');
      const cli = (...args: string[]): string =>
        execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
      const warmDir = join(work, 'warm');
      console.log(cli('cache', '--cache-dir', warmDir, 'warm', manifest, '--jobs', '2').trim());
      const bundle = join(work, 'ops.cuopbundle');
      console.log(cli('cache', '--cache-dir', warmDir, 'export', bundle, '--manifest', manifest).trim());
      const fresh = join(work, 'fresh');
      console.log(cli('cache', '--cache-dir', fresh, 'import', bundle).trim()); // archs: this host's GPU
      console.log(cli('cache', '--cache-dir', fresh, 'check', manifest).trim().split('\n').at(-1));
      const cold = run(fresh, 'nojit');
      assert.equal(cold.compiles, 0, JSON.stringify(cold));
      assert.deepEqual(
        [cold.firstForward.compiles, cold.firstForward.disk],
        [0, 1],
        'the first forward is a disk hit',
      );
      assert.equal(cold.disk, recorded.compiles);
      assert.deepEqual(cold.sums, recorded.sums, 'same kernels, same results');
      console.log(`first forward from the imported bundle: ${cold.firstForward.ms.toFixed(2)} ms`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);
