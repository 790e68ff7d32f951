// npm run torture [-- --short] [--only a,b] [--seed N] [--no-write]: the reliability harness (issue 20). Runs each
// scenario in its own work dir, prints one table of figures, writes it to notes/torture-<date>.md (with --short only
// when --write is given, to notes/torture-<date>-short.md), and exits 1 when a figure that must be 0 is not.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { failed, markdownTable, withWorkDir, type Figure, type Scenario } from './figures.js';

// Each scenario module default-exports a Scenario; add new ones here (one line each).
const SCENARIOS: (() => Promise<{ default: Scenario }>)[] = [
  () => import('./faults.js'),
  () => import('./crashes.js'),
  () => import('./load.js'),
  () => import('./hostile.js'),
  () => import('./bad-input.js'),
  () => import('./network.js'),
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const short = argv.includes('--short');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = value('--only')?.split(',');
  const seed = Number(value('--seed') ?? Date.now() % 1_000_000);
  const write = argv.includes('--write') || (!short && !argv.includes('--no-write'));
  const log = (line: string): void => void process.stderr.write(`torture: ${line}\n`);
  const figures: Figure[] = [];
  const started = Date.now();
  // The machine and how busy it was: the times and rates of a run mean little without them.
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} at the start`;
  log(`seed ${seed}${short ? ', short run' : ''}`);
  for (const load of SCENARIOS) {
    const s = (await load()).default;
    if (only && !only.includes(s.name)) continue;
    const t0 = Date.now();
    log(`${s.name}: ${s.description}`);
    try {
      figures.push(...(await withWorkDir(s.name, (workDir) => s.run({ short, workDir, log, seed }))));
    } catch (e) {
      figures.push({
        scenario: s.name,
        figure: `harness error: ${(e as Error).message}`,
        value: 1,
        mustBe: 0,
      });
    }
    log(`${s.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const table = markdownTable(figures);
  const bad = figures.filter(failed);
  const header =
    `# Torture run, ${new Date().toISOString().slice(0, 10)}\n\n` +
    `\`npm run torture${short ? ' -- --short' : ''}\` (seed ${seed}), Node ${process.version}, ${machine}; ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s.\n\n`;
  console.log(
    `\n${table}\n\n${bad.length === 0 ? 'every checked figure holds' : `${bad.length} checked figures FAILED`}`,
  );
  if (write) {
    const out = fileURLToPath(
      new URL(
        `../../notes/torture-${new Date().toISOString().slice(0, 10)}${short ? '-short' : ''}.md`,
        import.meta.url,
      ),
    );
    writeFileSync(out, `${header}${table}\n`);
    log(`written to ${out}`);
  }
  if (bad.length > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
