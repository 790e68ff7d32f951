// Running the toolkit's executables (nvcc, nvlink) without blocking the event loop.
import { spawn } from 'node:child_process';

const MAX_OUTPUT_BYTES = 64 * 2 ** 20;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a process without blocking the event loop; resolves with its exit status, rejects only if it cannot start.
 * Its stdin is /dev/null (an option `-` makes nvcc read stdin: it must see EOF, not wait forever), and it runs in
 * a process group of its own, killed whole (nvcc's cicc and ptxas too) when `timeoutMs` passes.
 */
export function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      bytes += b.length;
      if (bytes <= MAX_OUTPUT_BYTES) into.push(b);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        stderr += `\n${file} did not finish within ${opts.timeoutMs} ms and was stopped (the compile timeout: CUOP_COMPILE_TIMEOUT_MS)`;
      } else if (signal) {
        stderr += `\n${file} was killed by ${signal}`;
      }
      resolve({ code: code ?? -1, stdout, stderr: stderr.trim() });
    });
  });
}
