// Child processes of `cuop bench`: fresh cuop processes (this same CLI with `bench --child <task file>`) and peers
// (python3). Every child has a deadline and is killed past it, so the bench never hangs on one.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface ChildOutcome<T> {
  /** The child's last stdout line as JSON, when it exited 0 and printed one. */
  readonly result?: T;
  /** Why there is no result: the exit status, the deadline, or the first lines of stderr. */
  readonly failure?: string;
  /** Spawn to exit, ms. */
  readonly wallMs: number;
}

/** Runs a command, collects its output, kills it (SIGKILL) after timeoutMs. Never rejects. */
export function runProcess<T>(
  command: string,
  args: readonly string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<ChildOutcome<T>> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(command, [...args], {
        env: opts.env ?? process.env,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      resolve({ failure: `could not start ${command}: ${String(e)}`, wallMs: 0 });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ failure: `could not start ${command}: ${e.message}`, wallMs: performance.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      if (timedOut) {
        resolve({
          failure: `timed out after ${(opts.timeoutMs / 1000).toFixed(0)} s and was killed`,
          wallMs,
        });
        return;
      }
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0) {
        try {
          resolve({ result: JSON.parse(last) as T, wallMs });
          return;
        } catch {
          // no JSON: reported below
        }
      }
      const why = firstLines(stderr) || firstLines(stdout) || 'no output';
      resolve({ failure: `exited ${code ?? signal}: ${why}`, wallMs });
    });
  });
}

/** The lines that say what went wrong: a Python traceback's last, else the first few. */
function firstLines(text: string): string {
  const lines = text.trim().split('\n');
  const picked = text.includes('Traceback (most recent call last)') ? lines.slice(-1) : lines.slice(0, 3);
  return picked.join(' | ').slice(0, 300);
}

/** The script this process runs (build/src/cli/main.js or the bundled dist/cli/main.js). */
function cliScript(): string {
  return process.argv[1] ?? fileURLToPath(new URL('../main.js', import.meta.url));
}

let tasks = 0;

/** A fresh cuop process running one bench task (see child.ts); the task travels in a file of `scratch`. */
export function runCuopChild<T>(
  scratch: string,
  task: object,
  opts: { timeoutMs: number; nodeFlags?: readonly string[] },
): Promise<ChildOutcome<T>> {
  const file = join(scratch, `task-${process.pid}-${++tasks}.json`);
  writeFileSync(file, JSON.stringify(task));
  return runProcess<T>(process.execPath, [...(opts.nodeFlags ?? []), cliScript(), 'bench', '--child', file], {
    timeoutMs: opts.timeoutMs,
  });
}
