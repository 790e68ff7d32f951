// Which device linker links: nvJitLink where its library opens, else the nvlink of nvcc's toolkit.
import { nvJitLinkAvailable } from '../cuda/nvjitlink.js';
import type { Linker } from './linker.js';
import { NvJitLinkLinker } from './nvjitlink-linker.js';
import { NvlinkLinker, type NvlinkLinkerOptions } from './nvlink-linker.js';

/** The linker backend asked for; `auto` picks one as selectLinker says. */
export type LinkerPreference = 'auto' | 'nvjitlink' | 'nvlink';

/**
 * `auto` (the default): nvJitLink when libnvJitLink opens (CUOP_NVJITLINK_PATH, next to libnvrtc, the toolkits),
 * else nvlink. Opening the library is synchronous; nothing runs until the first link or info().
 */
export function selectLinker(
  preference: LinkerPreference = 'auto',
  options: NvlinkLinkerOptions = {},
): Linker {
  if (preference === 'nvjitlink') return new NvJitLinkLinker();
  if (preference === 'nvlink') return new NvlinkLinker(options);
  if (preference !== 'auto')
    throw new RangeError(
      `linker preference must be auto, nvjitlink or nvlink; got ${JSON.stringify(preference)}`,
    );
  return nvJitLinkAvailable() ? new NvJitLinkLinker() : new NvlinkLinker(options);
}
