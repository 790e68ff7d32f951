// The compiler's identity (id + version) is part of every cache key, but finding it out costs: NVRTC must be loaded
// (~12 ms: a 100 MB library) and nvcc must be run (`nvcc --version`, tens of ms). A process whose kernels all come
// from the cache needs neither. So the identity is remembered in the cache dir, per compiler file: path, size and
// mtime. A changed file (an upgrade in place) gives a new fingerprint; and before any compile the JIT checks the real
// identity against the remembered one (see JitCompiler), so a stale memo can never label a new compiler's output.
import { realpathSync, statSync } from 'node:fs';

import type { CompilerInfo, CompilerPreference } from '../compiler/index.js';
import { findNvcc, nvccEnvFlags } from '../compiler/index.js';
import { nvrtc } from '../cuda/index.js';
import { getSettings, settingsProblem } from '../settings/index.js';

const MEMO_FILE = 'compilers.json';

/**
 * A string naming the compiler that `preference` would select and its file's identity, without loading or running
 * it; undefined when that cannot be told cheaply (then the caller asks the compiler itself).
 */
export function compilerFingerprint(
  preference: CompilerPreference,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const settings = getSettings(env);
  // A bad CUOP_COMPILER: no fingerprint, so the compiler is asked for, and selectCompiler says what is wrong.
  if (preference === 'auto' && settingsProblem(settings, 'CUOP_COMPILER')) return undefined;
  const choice = preference === 'auto' ? settings.compiler.preference : preference;
  const stamp = (path: string): string | undefined => {
    try {
      const real = realpathSync(path);
      const st = statSync(real);
      return `${real}|${st.size}|${Math.round(st.mtimeMs)}`;
    } catch {
      return undefined;
    }
  };
  if (choice === 'nvrtc' || choice === 'auto') {
    const lib = nvrtc.nvrtcLibraryLocation(env);
    if (lib) return `nvrtc|${stamp(lib) ?? lib}`;
    if (choice === 'nvrtc') return undefined;
  }
  if (choice === 'nvcc' || choice === 'auto') {
    try {
      const exe = findNvcc({ env });
      const s = stamp(exe);
      return s ? `nvcc|${s}|${nvccEnvFlags(env)}` : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Where the memo lives: the cache's root, read and written through the cache's safe file operations. */
export interface MemoStore {
  readRootFile(name: string): string | undefined;
  writeRootFile(name: string, text: string): boolean;
}

function readMemo(store: MemoStore): Record<string, CompilerInfo> {
  try {
    const text = store.readRootFile(MEMO_FILE);
    const raw = text === undefined ? undefined : (JSON.parse(text) as unknown);
    return raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, CompilerInfo>) : {};
  } catch {
    return {};
  }
}

export function recallIdentity(store: MemoStore, fingerprint: string): CompilerInfo | undefined {
  const v = readMemo(store)[fingerprint];
  if (v && (v.id === 'nvrtc' || v.id === 'nvcc') && typeof v.version === 'string' && v.version) {
    return { id: v.id, version: v.version };
  }
  return undefined;
}

/** Remember (or, with undefined, forget) an identity. Best effort: the memo is only an optimization. */
export function rememberIdentity(
  store: MemoStore,
  fingerprint: string,
  info: CompilerInfo | undefined,
): void {
  const memo = readMemo(store);
  if (info) memo[fingerprint] = { id: info.id, version: info.version };
  else delete memo[fingerprint];
  store.writeRootFile(MEMO_FILE, JSON.stringify(memo)); // unwritable dir: the cache itself already warned
}
