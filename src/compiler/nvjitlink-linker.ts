// nvJitLink in-process: the default linker wherever libnvJitLink opens.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { LibraryNotFoundError } from '../cuda/errors.js';
import { nvJitLink, NvJitLinkError, nvJitLinkLibraryPath, nvJitLinkVersion } from '../cuda/nvjitlink.js';
import { LinkError, LinkerUnavailableError, linkWithDeviceRuntime } from './linker.js';
import type { Linker, LinkerInfo, LinkRequest, LinkResult } from './linker.js';
import { fullVersion } from './nvrtc-compiler.js';
import { parseArch } from './select.js';

/** libcudadevrt.a beside the library (a toolkit's lib dir holds both), if there. */
function deviceRuntimeNear(libraryPath: string): string | undefined {
  const dir = dirname(libraryPath);
  for (const p of [join(dir, 'libcudadevrt.a'), join(dir, '..', 'lib64', 'libcudadevrt.a')]) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Links in-process through libnvJitLink (opened on first use: CUOP_NVJITLINK_PATH, next to libnvrtc, the
 * toolkits).
 */
export class NvJitLinkLinker implements Linker {
  readonly id = 'nvjitlink' as const;
  private cached: { info: LinkerInfo; devrt: string | undefined } | undefined;

  private load(): { info: LinkerInfo; devrt: string | undefined } {
    if (!this.cached) {
      let path: string;
      let v: { major: number; minor: number };
      try {
        path = nvJitLinkLibraryPath();
        v = nvJitLinkVersion();
      } catch (err) {
        if (err instanceof LibraryNotFoundError || err instanceof NvJitLinkError)
          throw new LinkerUnavailableError(`nvJitLink is not usable: ${err.message}`, { cause: err });
        throw err;
      }
      const devrt = deviceRuntimeNear(path);
      this.cached = {
        info: {
          id: 'nvjitlink',
          version: fullVersion(v.major, v.minor, path),
          deviceRuntime: devrt ? `size:${statSync(devrt).size}` : undefined,
        },
        devrt,
      };
    }
    return this.cached;
  }

  async info(): Promise<LinkerInfo> {
    return this.load().info;
  }

  async link(request: LinkRequest): Promise<LinkResult> {
    const { info, devrt } = this.load();
    const archNumber = parseArch(request.arch);
    const options = [`-arch=sm_${archNumber}${request.arch.replace(/^sm_\d+/, '')}`];
    if (request.lto) options.push('-lto');
    options.push(...(request.options ?? []));
    const inputs = request.inputs.map((i) => ({ kind: i.kind, data: i.data, name: i.name }));
    return linkWithDeviceRuntime(request.deviceRuntime, devrt !== undefined, async (withDevrt) => {
      const all = withDevrt
        ? [...inputs, { kind: 'library' as const, file: devrt as string, name: 'libcudadevrt.a' }]
        : inputs;
      const names = all.map((i) => i.name);
      const started = performance.now();
      let out;
      try {
        out = await nvJitLink(options, all);
      } catch (err) {
        // A bad option is the request's fault: report it like a link error, with the options.
        if (err instanceof NvJitLinkError && (err.code === 1 || err.code === 11))
          throw new LinkError('nvJitLink', names, err.message, options);
        throw err;
      }
      const linkMs = performance.now() - started;
      if (!out.ok || !out.cubin) throw new LinkError('nvJitLink', names, out.log, options);
      return { image: out.cubin, log: out.log, linkMs, linker: info };
    });
  }
}
