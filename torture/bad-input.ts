// Bad input (issue 20): malformed CUDA, empty and 50 MB sources, unknown options, option injection through the nvcc
// command line (spaces, quotes, leading dashes, `;`, newlines, `$(…)` and backticks, a trailing backslash), names
// that try to inject code, header maps that climb out with `../`, bad policy values (CachePolicy, KernelCache
// options, CUOP_* variables) and bad `cuop` flags. The library cases run through the real nvcc (JitCompiler.compile,
// no GPU) in a child process (torture/bad-input-child.ts) that reports each case as one line, with a deadline per
// case: a child that dies is a crash, one that stops answering a hang, and the next child goes on after that case.
// The CLI cases run the built `cuop` with a deadline each.
//
// Figures: cases tried; untyped errors (must be 0: anything but a CuopError subclass, or a TypeError/RangeError,
// which cuop documents for arguments of the wrong shape; for the CLI, a stack trace, an exit status other than 0, 1
// or 2, or a signal); bad inputs accepted (must be 0: a case that must fail compiled); entries cached for a failed
// input (must be 0: new entries in memory or on disk after a failed case, or a second try of it that succeeds);
// injected commands executed (must be 0: sentinel files the payloads would create, and files written outside the
// compile's private temp dir); crashes and hangs (must be 0).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { Figure, Scenario, ScenarioOptions } from './figures.js';

const BUILD = fileURLToPath(new URL('../', import.meta.url));
const CHILD = join(BUILD, 'torture', 'bad-input-child.js');
const CLI = join(BUILD, 'src', 'cli', 'main.js');

/** What one library case reports (one JSON line of the child). */
export interface CaseOutcome {
  readonly i: number;
  /** 'ok': it compiled (or was accepted); 'typed': a CuopError / TypeError / RangeError; 'untyped': anything else. */
  readonly outcome: 'ok' | 'typed' | 'untyped';
  readonly error?: string;
  /** New entries in the cache after a failed case, plus 1 when a second try of it succeeded. */
  readonly cachedAfterFailure: number;
  readonly ms: number;
}

/** The payload that creates sentinel `name` when a shell runs it, in several shell spellings. */
export const payloads = (s: string, tag = ''): { id: string; text: string }[] =>
  [
    ['dollar', (f: string) => `$(touch ${f})`],
    ['backtick', (f: string) => `\`touch ${f}\``],
    ['semicolon', (f: string) => `1;touch ${f}`],
    ['and', (f: string) => `1 && touch ${f}`],
    ['pipe', (f: string) => `1 | touch ${f}`],
    ['newline', (f: string) => `1\ntouch ${f}`],
    ['quote', (f: string) => `a" ; touch ${f} ; echo "`],
    ['squote', (f: string) => `a' ; touch ${f} ; echo '`],
    ['ifs', (f: string) => `$(touch\${IFS}${f})`],
    ['brace', (f: string) => `\${X:-$(touch ${f})}`],
  ].map(([id, text]) => ({
    id: id as string,
    text: (text as (f: string) => string)(`${s}/${tag}${id as string}`),
  }));

interface CliCase {
  readonly id: string;
  readonly args: (s: string, work: string) => string[];
  /** 0 allowed too (a flag that is fine after all). */
  readonly mayPass?: boolean;
}

const CLI_CASES: CliCase[] = [
  { id: 'unknown top-level flag', args: () => ['--no-such-flag'] },
  { id: 'unknown command', args: () => ['frobnicate'] },
  {
    id: 'shrink garbage size',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'shrink', 'lots'],
  },
  {
    id: 'shrink negative size',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'shrink', '-5'],
  },
  {
    id: 'shrink huge size',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'shrink', '9'.repeat(40) + 'TB'],
  },
  {
    id: 'ls --limit 0',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'ls', '--limit', '0'],
  },
  {
    id: 'ls --limit abc',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'ls', '--limit', 'abc'],
  },
  {
    id: 'ls --sort nope',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'ls', '--sort', 'nope'],
  },
  {
    id: 'show with a payload prefix',
    args: (s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'show', `$(touch ${s}/cli-show)`],
  },
  {
    id: 'show ../ prefix',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'show', '../../etc/passwd'],
  },
  { id: 'show empty prefix', args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'show', ''] },
  { id: '--cache-dir without a value', args: () => ['cache', '--cache-dir'] },
  {
    id: '--cache-dir payload',
    args: (s, w) => ['cache', '--cache-dir', join(w, `$(touch ${s}/cli-dir)`), 'stats'],
    mayPass: true,
  },
  {
    id: 'stats --format nope',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'stats', '--format', 'nope'],
  },
  {
    id: 'warm a missing manifest',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'warm', join(w, 'nope.jsonl')],
  },
  {
    id: 'warm a garbage manifest',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'warm', join(w, 'garbage.jsonl')],
  },
  {
    id: 'warm a manifest whose options carry payloads (nvcc)',
    args: (_s, w) => [
      'cache',
      '--cache-dir',
      join(w, 'cli-cache'),
      'warm',
      join(w, 'payload.jsonl'),
      '--compiler',
      'nvcc',
      '--arch',
      'sm_90',
    ],
  },
  {
    id: 'warm --jobs -1',
    args: (_s, w) => [
      'cache',
      '--cache-dir',
      join(w, 'cli-cache'),
      'warm',
      join(w, 'payload.jsonl'),
      '--jobs',
      '-1',
    ],
  },
  {
    id: 'warm --compiler bogus',
    args: (_s, w) => [
      'cache',
      '--cache-dir',
      join(w, 'cli-cache'),
      'warm',
      join(w, 'payload.jsonl'),
      '--compiler',
      'bogus',
    ],
  },
  {
    id: 'warm --arch garbage',
    args: (_s, w) => [
      'cache',
      '--cache-dir',
      join(w, 'cli-cache'),
      'warm',
      join(w, 'payload.jsonl'),
      '--compiler',
      'nvcc',
      '--arch',
      'sm_x;ls',
    ],
  },
  {
    id: 'explain a garbage spec',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'explain', join(w, 'garbage.jsonl')],
  },
  {
    id: 'import a garbage bundle',
    args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'import', join(w, 'garbage.jsonl')],
  },
  { id: 'import a directory', args: (_s, w) => ['cache', '--cache-dir', join(w, 'cli-cache'), 'import', w] },
  {
    id: 'export to a payload path',
    args: (s, w) => [
      'cache',
      '--cache-dir',
      join(w, 'cli-cache'),
      'export',
      join(w, `$(touch ${s}/cli-export)`),
      '--all',
    ],
    mayPass: true,
  },
  { id: 'bench --only nope', args: () => ['bench', '--only', 'nope'] },
  { id: 'demo --size -1', args: () => ['demo', '--size', '-1'] },
  { id: 'demo --dtype int3', args: () => ['demo', '--dtype', 'int3'] },
  { id: 'doctor with an extra argument', args: () => ['doctor', 'extra'] },
];

function runCli(
  args: string[],
  env: Record<string, string>,
  deadlineMs: number,
): Promise<{ code: number | null; signal: string | null; out: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, deadlineMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, timedOut });
    });
  });
}

/** Runs the library cases in children; one line per case, a deadline per case, a new child after a crash. */
async function libraryCases(
  o: ScenarioOptions,
  count: number,
  env: Record<string, string>,
): Promise<{ outcomes: CaseOutcome[]; crashes: number; hangs: number; crashed: string[] }> {
  const outcomes: CaseOutcome[] = [];
  let crashes = 0;
  let hangs = 0;
  const crashed: string[] = [];
  let next = 0;
  while (next < count) {
    const from = next;
    const result = await new Promise<{ last: number; hung: boolean; tail: string }>((resolve) => {
      const child = spawn(process.execPath, [CHILD, String(from), o.short ? 'short' : 'full'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let last = from - 1;
      let hung = false;
      let tail = '';
      child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-2000)));
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          hung = true;
          try {
            process.kill(-(child.pid as number), 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, 120_000);
      };
      arm();
      createInterface({ input: child.stdout }).on('line', (line) => {
        arm();
        try {
          const r = JSON.parse(line) as CaseOutcome;
          outcomes.push(r);
          last = r.i;
        } catch {
          // not a report line
        }
      });
      child.on('close', () => {
        clearTimeout(timer);
        resolve({ last, hung, tail });
      });
    });
    next = result.last + 1;
    if (next < count) {
      // The child died (or hung) in case `next`: count it and go on after it.
      if (result.hung) hangs++;
      else crashes++;
      crashed.push(`case ${next}: ${result.hung ? 'hung' : 'crashed'} ${result.tail.slice(-300)}`);
      next++;
    }
  }
  return { outcomes, crashes, hangs, crashed };
}

async function run(o: ScenarioOptions): Promise<Figure[]> {
  const sentinels = join(o.workDir, 'sentinels');
  mkdirSync(sentinels);
  const { CASES: ALL } = await import('./bad-input-cases.js');
  const CASES = o.short ? ALL.filter((c) => c.short) : ALL;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: join(o.workDir, 'home'),
    CUOP_TORTURE_WORK: o.workDir,
    CUOP_TORTURE_SENTINELS: sentinels,
  };
  const lib = await libraryCases(o, CASES.length, env);

  // The CLI: a garbage file, and a manifest whose spec's options carry every payload.
  writeFileSync(join(o.workDir, 'garbage.jsonl'), '{"not": json\n\u0000\u0001garbage');
  writeFileSync(
    join(o.workDir, 'payload.jsonl'),
    ['{"cuopManifest":1}']
      .concat(
        payloads(sentinels, 'cli-')
          .filter((p) => !o.short || ['dollar', 'backtick', 'quote'].includes(p.id))
          .map((p) =>
            JSON.stringify({
              source: 'extern "C" __global__ void k(float* x) { x[0] = 1.0f; }',
              name: 'k',
              options: [`-DX=${p.text}`],
              arch: 'sm_90',
              compiler: 'nvcc',
            }),
          ),
      )
      .join('\n') + '\n',
  );
  let cliUntyped = 0;
  let cliHangs = 0;
  let cliAccepted = 0;
  const cliCases = o.short
    ? CLI_CASES.filter((_, i) => i % 2 === 0 || /payload/.test(CLI_CASES[i]?.id ?? ''))
    : CLI_CASES;
  for (const c of cliCases) {
    const r = await runCli(
      c.args(sentinels, o.workDir),
      { ...env, CUOP_CACHE_DIR: join(o.workDir, 'cli-cache') },
      60_000,
    );
    const stack = /\n\s+at .+[(\s].*:\d+:\d+\)?/.test(r.out);
    if (r.timedOut) cliHangs++;
    else if (stack || r.signal !== null || r.code === null || r.code > 2) {
      cliUntyped++;
      o.log(`bad-input: cuop ${c.id}: exit ${r.code ?? r.signal}: ${r.out.slice(0, 400)}`);
    } else if (r.code === 0 && !c.mayPass) {
      cliAccepted++;
      o.log(`bad-input: cuop ${c.id}: accepted (exit 0): ${r.out.slice(0, 200)}`);
    }
  }

  const executed = readdirSync(sentinels);
  // Files a header name climbed out with: anything named evil* anywhere under the work dir.
  const escaped: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.startsWith('evil')) escaped.push(p);
    }
  };
  walk(o.workDir);
  if (existsSync('/tmp/evil.h') || existsSync('/etc/evil.h')) escaped.push('/tmp or /etc');

  const untyped = lib.outcomes.filter((r) => r.outcome === 'untyped');
  const accepted = lib.outcomes.filter((r) => r.outcome === 'ok' && !CASES[r.i]?.mayPass);
  const cached = lib.outcomes.reduce((n, r) => n + r.cachedAfterFailure, 0);
  for (const r of untyped) o.log(`bad-input: ${CASES[r.i]?.id}: untyped: ${r.error}`);
  for (const r of accepted) o.log(`bad-input: ${CASES[r.i]?.id}: accepted`);
  for (const c of lib.crashed) o.log(`bad-input: ${c}`);
  if (executed.length > 0) o.log(`bad-input: sentinels created: ${executed.join(', ')}`);
  if (escaped.length > 0) o.log(`bad-input: files outside the temp dir: ${escaped.join(', ')}`);
  const byGroup = new Map<string, number>();
  for (const c of CASES) byGroup.set(c.group, (byGroup.get(c.group) ?? 0) + 1);
  const slowest = lib.outcomes.reduce((m, r) => Math.max(m, r.ms), 0);
  const f = (figure: string, value: number, unit?: string, mustBe?: number): Figure => ({
    scenario: 'bad-input',
    figure,
    value,
    ...(unit === undefined ? {} : { unit }),
    ...(mustBe === undefined ? {} : { mustBe }),
  });
  return [
    f(
      'cases tried',
      CASES.length + cliCases.length,
      `${[...byGroup].map(([g, n]) => `${g} ${n}`).join(', ')}, cli ${cliCases.length}`,
    ),
    f('typed errors', lib.outcomes.filter((r) => r.outcome === 'typed').length, 'library cases'),
    f('untyped errors', untyped.length + cliUntyped, 'library + cli', 0),
    f('bad inputs accepted', accepted.length + cliAccepted, 'cases that must fail but did not', 0),
    f('entries cached for a failed input', cached, 'new entries, or a retry served', 0),
    f(
      'injected commands executed',
      executed.length + escaped.length,
      'sentinel files + files written outside the temp dir',
      0,
    ),
    f(
      'crashes and hangs',
      lib.crashes + lib.hangs + cliHangs,
      'children that died or ran past the deadline',
      0,
    ),
    f('slowest library case', slowest / 1000, 's'),
  ];
}

const scenario: Scenario = {
  name: 'bad-input',
  description:
    'malformed, empty, huge and injecting sources, options, names, headers, policies and CLI flags through the real nvcc: typed errors, nothing cached or executed',
  run,
};
export default scenario;
