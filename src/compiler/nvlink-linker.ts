// nvcc's device linker, nvlink, as a subprocess: the linker for hosts without libnvJitLink (the CPU-only CI box).
// Found in the toolkit nvcc belongs to (nvcc --dryrun names its root); inputs go through a private temp dir.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';

import { getSettings } from '../settings/index.js';
import { LinkError, LinkerUnavailableError, linkWithDeviceRuntime } from './linker.js';
import type { LinkInputKind, Linker, LinkerInfo, LinkRequest, LinkResult } from './linker.js';
import { findNvcc } from './nvcc-compiler.js';
import { parseArch } from './select.js';
import { run } from './subprocess.js';

const QUERY_TIMEOUT_MS = 60_000;
const EXTENSION: Readonly<Record<LinkInputKind, string>> = {
  cubin: 'cubin',
  ptx: 'ptx',
  ltoir: 'ltoir',
  fatbin: 'fatbin',
  object: 'o',
  library: 'a',
};

interface Toolkit {
  readonly nvlink: string;
  readonly deviceRuntime: string | undefined;
  /** The directory whose lib64/libnvvm.so nvlink loads for LTO. */
  readonly nvvmPath: string | undefined;
  readonly info: LinkerInfo;
}

/** Where NvlinkLinker finds nvcc (whose nvlink it runs), its environment, and how long a link may take. */
export interface NvlinkLinkerOptions {
  readonly nvccPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

/** Links through the nvlink of nvcc's toolkit, as a subprocess: the linker where libnvJitLink does not open. */
export class NvlinkLinker implements Linker {
  readonly id = 'nvlink' as const;
  private toolkit: Promise<Toolkit> | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;

  constructor(private readonly options: NvlinkLinkerOptions = {}) {
    this.env = options.env ?? process.env;
    this.timeoutMs = options.timeoutMs ?? getSettings(this.env).compiler.timeoutMs;
  }

  async info(): Promise<LinkerInfo> {
    return (await this.find()).info;
  }

  private find(): Promise<Toolkit> {
    this.toolkit ??= this.locate().catch((err: unknown) => {
      this.toolkit = undefined;
      throw err;
    });
    return this.toolkit;
  }

  private async locate(): Promise<Toolkit> {
    let nvcc: string;
    try {
      nvcc = findNvcc({ nvccPath: this.options.nvccPath, env: this.env });
    } catch (err) {
      throw new LinkerUnavailableError(
        `no device linker: libnvJitLink did not open and nvcc (whose nvlink would link) was not found. ` +
          `Set CUOP_NVJITLINK_PATH or CUOP_NVCC_PATH. ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    // nvcc may be a wrapper script: its --dryrun names the real toolkit root (TOP).
    const dry = await run(nvcc, ['--dryrun', '-x', 'cu', '-cubin', '-o', '/dev/null', '/dev/null'], {
      env: this.env,
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    const top = /^#\$\s*TOP=(.*)$/m.exec(`${dry.stdout}\n${dry.stderr}`)?.[1]?.trim();
    const root = top ? resolve(top) : resolve(realpathSync(nvcc), '..', '..');
    const nvlink = join(root, 'bin', 'nvlink');
    if (!existsSync(nvlink))
      throw new LinkerUnavailableError(`nvlink not found at ${nvlink} (the toolkit of ${nvcc})`);
    const v = await run(nvlink, ['--version'], { env: this.env, timeoutMs: QUERY_TIMEOUT_MS });
    const m = /V(\d+(?:\.\d+)+)/.exec(`${v.stdout}\n${v.stderr}`);
    if (v.code !== 0 || !m?.[1])
      throw new LinkerUnavailableError(`${nvlink} --version failed (exit ${v.code}): ${v.stderr.trim()}`);
    const devrt = [
      'lib64',
      'lib',
      join('targets', 'x86_64-linux', 'lib'),
      join('targets', 'sbsa-linux', 'lib'),
    ]
      .map((d) => join(root, d, 'libcudadevrt.a'))
      .find((p) => existsSync(p));
    const nvvmPath = [join(root, 'nvvm'), root].find((d) => existsSync(join(d, 'lib64', 'libnvvm.so')));
    return {
      nvlink,
      deviceRuntime: devrt,
      nvvmPath,
      info: {
        id: 'nvlink',
        version: m[1],
        deviceRuntime: devrt ? `size:${statSync(devrt).size}` : undefined,
      },
    };
  }

  async link(request: LinkRequest): Promise<LinkResult> {
    const tk = await this.find();
    parseArch(request.arch); // a RangeError for a malformed arch, before anything runs
    const options = [`-arch=${request.arch}`];
    if (request.lto) {
      if (!tk.nvvmPath)
        throw new LinkerUnavailableError(
          `nvlink cannot do link-time optimization here: no lib64/libnvvm.so under ${tk.nvlink}'s toolkit`,
        );
      options.push('-lto', `-nvvmpath=${tk.nvvmPath}`);
    }
    options.push(...(request.options ?? []));
    const dir = await mkdtemp(join(tmpdir(), 'cuop-nvlink-'));
    try {
      const files: string[] = [];
      for (const [i, input] of request.inputs.entries()) {
        const safe = input.name.replace(/[^A-Za-z0-9_.+-]/g, '_').slice(0, 80);
        const file = join(dir, `${i}-${safe}.${EXTENSION[input.kind]}`);
        await writeFile(file, input.data);
        files.push(file);
      }
      const devrt = tk.deviceRuntime;
      return await linkWithDeviceRuntime(request.deviceRuntime, devrt !== undefined, async (withDevrt) => {
        const out = join(dir, 'linked.cubin');
        const args = [...options, ...files, ...(withDevrt && devrt ? [devrt] : []), '-o', out];
        const started = performance.now();
        const r = await run(tk.nvlink, args, { env: this.env, timeoutMs: this.timeoutMs });
        const linkMs = performance.now() - started;
        // Messages name the temp files: show the inputs' own names instead.
        let log = `${r.stderr}\n${r.stdout}`.trim();
        request.inputs.forEach((input, i) => (log = log.split(files[i] as string).join(input.name)));
        log = log.split(`${dir}${sep}`).join('');
        const names = [...request.inputs.map((i) => i.name), ...(withDevrt ? ['libcudadevrt.a'] : [])];
        if (r.code !== 0) throw new LinkError('nvlink', names, log, options);
        return { image: await readFile(out), log, linkMs, linker: tk.info };
      });
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}
