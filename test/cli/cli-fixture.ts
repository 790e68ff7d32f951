// Running the real `cuop` (build/src/cli/main.js) in a child process, for the CLI tests of the cache commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

import { tempDir as fixtureTempDir } from '../cache/fixtures.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without anything that would steer the CLI (CUOP_*, npm's, the runner's). */
export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CUOP_') || k.startsWith('npm_') || k.startsWith('NODE_TEST')) continue;
    if (k === 'NODE_COMPILE_CACHE' || k === 'NODE_DISABLE_COMPILE_CACHE') continue;
    env[k] = v;
  }
  return env;
}

export function cuop(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...baseEnv(), ...env },
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must exit `status` and print one JSON document. */
export function cuopJson<T>(args: string[], env: NodeJS.ProcessEnv = {}, status = 0): T {
  const r = cuop(args, env);
  assert.equal(r.status, status, `cuop ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory, removed when the file's tests are done. */
export function tempDir(tag: string): string {
  const d = fixtureTempDir(tag);
  scratch.push(d);
  return d;
}
