// Every CUOP_* environment variable cuop reads, parsed and validated in one place, into one typed, frozen object.
// The bottom layer: it imports only node built-ins (nothing of cuop), so every other layer may read it.
//
// A bad value never throws here: it is recorded as a problem (variable, value, what was expected) and the default
// stands. Each caller decides what a problem means to it: the cache warns once and goes on with the default,
// selectCompiler refuses a bad CUOP_COMPILER, `cuop info` lists them all.
import { parseByteSize } from './byte-size.js';

/** The compiler backend asked for; `auto` takes NVRTC when libnvrtc opens, else nvcc (CUOP_COMPILER). */
export type CompilerPreference = 'nvrtc' | 'nvcc' | 'auto';
export const COMPILER_PREFERENCES: readonly CompilerPreference[] = Object.freeze(['nvrtc', 'nvcc', 'auto']);

/** Who may share the cache directory (the cache's trust rule). */
export type CacheSharing = 'private' | 'group';

/** A salt longer than this is refused (it is part of every key; only its SHA-256 is stored). */
export const MAX_SALT_LENGTH = 4096;

/** Everything the environment can set, with the default where a variable is unset, empty or bad. */
export interface Settings {
  readonly cache: {
    /**
     * CUOP_CACHE_DIR as given (resolveCacheDir resolves it against the working directory); undefined: the default
     * place, $XDG_CACHE_HOME/cuop else ~/.cache/cuop.
     */
    readonly dir: string | undefined;
    /** CUOP_CACHE_DISABLE=1|true: no disk tier, memory only (wins over any directory). */
    readonly disabled: boolean;
    /** CUOP_CACHE_MAX_SIZE: upper bound of the disk tier, bytes. */
    readonly maxDiskBytes: number;
    /** CUOP_CACHE_SALT: part of every cache key; '' is none. */
    readonly salt: string;
    /** CUOP_CACHE_SHARED: 'private' (this user only) or 'group' (the directory's group shares it). */
    readonly sharing: CacheSharing;
    /**
     * CUOP_CODE_CACHE=0: the package loader (dist/index.js) neither reads nor writes V8's code cache of cuop's own
     * code. The loader reads the variable itself, before any of cuop runs; this field only mirrors it.
     */
    readonly codeCache: boolean;
  };
  readonly compiler: {
    /** CUOP_COMPILER: the backend when the code asks for 'auto' (an explicit 'nvrtc' or 'nvcc' wins). */
    readonly preference: CompilerPreference;
    /** CUOP_NVCC_PATH: nvcc (or its directory), tried before CUDA_PATH, CUDA_HOME and PATH. */
    readonly nvccPath: string | undefined;
    /** CUOP_COMPILE_TIMEOUT_MS: an nvcc compile running longer is stopped and fails. */
    readonly timeoutMs: number;
  };
  readonly libraries: {
    /** CUOP_NVRTC_PATH: the libnvrtc file, tried before the search. */
    readonly nvrtcPath: string | undefined;
    /** CUOP_LIBCUDA_PATH: the libcuda (driver) file, tried before the search. */
    readonly libcudaPath: string | undefined;
    /** CUOP_NVJITLINK_PATH: the libnvJitLink file (the device linker), tried before the search. */
    readonly nvJitLinkPath: string | undefined;
  };
  /** The shared (remote) tier: off unless CUOP_REMOTE_CACHE names a server. */
  readonly remote: {
    /** CUOP_REMOTE_CACHE: redis://, rediss:// (TLS) or redis+cluster:// URL; undefined: no remote tier. */
    readonly url: string | undefined;
    /** CUOP_REMOTE_PASSWORD: the server's password (overrides one in the URL). */
    readonly password: string | undefined;
    /** CUOP_REMOTE_SECRET: `id:secret[,id:secret…]`; the first signs, all are accepted. Empty: read-only. */
    readonly secrets: readonly { readonly id: string; readonly secret: string }[];
    /** CUOP_REMOTE_ALLOW_UNSIGNED=1: read and write unsigned entries. */
    readonly allowUnsigned: boolean;
    /** CUOP_REMOTE_PREFIX: namespace of every key. */
    readonly prefix: string;
    /** CUOP_REMOTE_TTL: seconds an entry lives after its last use. */
    readonly ttlSeconds: number;
    /** CUOP_REMOTE_TIMEOUT_MS: deadline of each remote call. */
    readonly timeoutMs: number;
  };
  /** The JIT's own switches. */
  readonly jit: {
    /** CUOP_RECORD: append every kernel spec looked up to this manifest (JSON Lines), for `cuop cache warm`. */
    readonly record: string | undefined;
  };
  /** CUOP_DEBUG: log every cache decision to stderr. */
  readonly debug: boolean;
  /** The variables whose values could not be used (their defaults stand), in table order. */
  readonly problems: readonly SettingsProblem[];
}

/** A CUOP_* variable whose value could not be used: the default stands. */
export interface SettingsProblem {
  readonly variable: string;
  /** The variable's text, as found. */
  readonly value: string;
  /** What was expected, e.g. `not a byte size: "huge" (use e.g. …)`. */
  readonly message: string;
}

type Group = 'cache' | 'compiler' | 'libraries' | 'remote' | 'jit';
/** Where a variable lands in Settings: 'cache.maxDiskBytes', 'debug'. */
export type SettingsField = { [G in Group]: `${G}.${keyof Settings[G] & string}` }[Group] | 'debug';

/** One row of the variable table, for docs and `cuop info`. */
export interface SettingsVariable {
  readonly name: string;
  readonly field: SettingsField;
  readonly description: string;
  /** The default, in words (what applies when the variable is unset, empty or bad). */
  readonly defaultValue: string;
  /** Holds a credential: never printed (listings and problems show what `shown` makes of it). */
  readonly secret?: true;
}

/** 1 GiB. */
export const DEFAULT_MAX_DISK_BYTES = 2 ** 30;
/** 10 minutes: heavy template code can take minutes. */
export const DEFAULT_COMPILE_TIMEOUT_MS = 10 * 60_000;

export const DEFAULT_SETTINGS: Settings = deepFreeze({
  cache: {
    dir: undefined,
    disabled: false,
    maxDiskBytes: DEFAULT_MAX_DISK_BYTES,
    salt: '',
    sharing: 'private',
    codeCache: true,
  },
  compiler: { preference: 'auto', nvccPath: undefined, timeoutMs: DEFAULT_COMPILE_TIMEOUT_MS },
  libraries: { nvrtcPath: undefined, libcudaPath: undefined, nvJitLinkPath: undefined },
  remote: {
    url: undefined,
    password: undefined,
    secrets: [],
    allowUnsigned: false,
    prefix: 'cuop:',
    ttlSeconds: 30 * 86_400,
    timeoutMs: 50,
  },
  jit: { record: undefined },
  debug: false,
  problems: [],
});

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type Draft = {
  -readonly [G in Exclude<keyof Settings, 'problems'>]: Settings[G] extends object
    ? Writable<Settings[G]>
    : Settings[G];
};

interface VariableSpec extends SettingsVariable {
  /** Stores the value of a set (non-empty) variable, or leaves the default; throws an Error saying what is expected. */
  readonly read: (text: string, into: Draft) => void;
}

const quoted = (text: string): string => JSON.stringify(text);

/** 1, true or yes / 0, false or no, any case. */
function flag(text: string): boolean {
  const v = text.toLowerCase();
  if (['1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw new Error(`expected true or false, got ${quoted(text)}`);
}

// The table: one row per variable, in the order problems are reported. A hand-written parser per row rather than
// a schema library: importing one costs tens of milliseconds of every process's start, for a dozen scalars.
const VARIABLES: readonly VariableSpec[] = [
  {
    name: 'CUOP_CACHE_DIR',
    field: 'cache.dir',
    description:
      'Directory of the persistent kernel cache; a relative path is resolved against the working directory.',
    defaultValue: '$XDG_CACHE_HOME/cuop, else ~/.cache/cuop',
    read: (t, s) => {
      s.cache.dir = t;
    },
  },
  {
    name: 'CUOP_CACHE_DISABLE',
    field: 'cache.disabled',
    description:
      '1 or true: no disk cache, kernels are cached in memory only (0 or false: the disk cache is on).',
    defaultValue: 'false',
    read: (t, s) => {
      if (t === '1' || t === 'true') s.cache.disabled = true;
      else if (t !== '0' && t !== 'false')
        throw new Error(`expected 1 or true (to disable the disk cache), or 0 or false, got ${quoted(t)}`);
    },
  },
  {
    name: 'CUOP_CACHE_MAX_SIZE',
    field: 'cache.maxDiskBytes',
    description: 'Upper bound of the disk cache: a byte count or a size like 500MB, 5GB, 1GiB.',
    defaultValue: '1GiB (1073741824)',
    read: (t, s) => {
      s.cache.maxDiskBytes = parseByteSize(t);
    },
  },
  {
    name: 'CUOP_CACHE_SALT',
    field: 'cache.salt',
    description:
      `Part of every cache key (at most ${MAX_SALT_LENGTH} characters): separates caches by what cuop cannot ` +
      'see, e.g. a library linked at run time or a patched driver.',
    defaultValue: "'' (none)",
    read: (t, s) => {
      if (t.length > MAX_SALT_LENGTH)
        throw new Error(`expected a string of at most ${MAX_SALT_LENGTH} characters, got ${quoted(t)}`);
      s.cache.salt = t;
    },
  },
  {
    name: 'CUOP_CACHE_SHARED',
    field: 'cache.sharing',
    description:
      'group: share the cache directory with the members of its group on purpose (setgid tree, mode 2770); ' +
      'private, 0, false or no: this user only.',
    defaultValue: 'private',
    read: (t, s) => {
      const v = t.toLowerCase();
      if (['0', 'false', 'no', 'private'].includes(v)) s.cache.sharing = 'private';
      else if (v === 'group') s.cache.sharing = 'group';
      else throw new Error(`expected 'private' or 'group', got ${quoted(v)}`);
    },
  },
  {
    name: 'CUOP_CODE_CACHE',
    field: 'cache.codeCache',
    description:
      "0: don't keep V8's code cache of cuop's own code (made in <cache dir>/code-cache by the first process " +
      'that looks a kernel up, it makes later processes start faster); anything else: keep it.',
    defaultValue: 'on',
    read: (t, s) => {
      s.cache.codeCache = t !== '0';
    },
  },
  {
    name: 'CUOP_DEBUG',
    field: 'debug',
    description: '1, true or yes: log every cache decision to stderr (0, false or no: off).',
    defaultValue: 'false',
    read: (t, s) => {
      s.debug = flag(t);
    },
  },
  {
    name: 'CUOP_COMPILER',
    field: 'compiler.preference',
    description:
      'nvrtc, nvcc or auto (any case): the compiler backend where the code asks for auto; an explicit ' +
      'nvrtc or nvcc in the code wins.',
    defaultValue: 'auto (NVRTC when libnvrtc loads, else nvcc)',
    read: (t, s) => {
      const v = t.trim().toLowerCase();
      if (v === '') return;
      if (!(COMPILER_PREFERENCES as readonly string[]).includes(v))
        throw new Error(`expected one of ${COMPILER_PREFERENCES.join(', ')}, got ${quoted(v)}`);
      s.compiler.preference = v as CompilerPreference;
    },
  },
  {
    name: 'CUOP_NVCC_PATH',
    field: 'compiler.nvccPath',
    description: 'The nvcc executable (or its directory), tried before CUDA_PATH, CUDA_HOME and PATH.',
    defaultValue: 'searched: CUDA_PATH/bin, CUDA_HOME/bin, PATH, /usr/local/cuda/bin',
    read: (t, s) => {
      s.compiler.nvccPath = t;
    },
  },
  {
    name: 'CUOP_COMPILE_TIMEOUT_MS',
    field: 'compiler.timeoutMs',
    description: 'An nvcc compile running longer than this many milliseconds (> 0) is stopped and fails.',
    defaultValue: `${DEFAULT_COMPILE_TIMEOUT_MS} (10 minutes)`,
    read: (t, s) => {
      const v = Number(t);
      if (!(Number.isFinite(v) && v > 0))
        throw new Error(`expected a positive number of milliseconds, got ${quoted(t)}`);
      s.compiler.timeoutMs = v;
    },
  },
  {
    name: 'CUOP_NVRTC_PATH',
    field: 'libraries.nvrtcPath',
    description: 'The libnvrtc file to load, tried before the search.',
    defaultValue: 'searched: CUDA_PATH, CUDA_HOME, /usr/local/cuda*, ldconfig -p, Python wheels, the loader',
    read: (t, s) => {
      s.libraries.nvrtcPath = t;
    },
  },
  {
    name: 'CUOP_LIBCUDA_PATH',
    field: 'libraries.libcudaPath',
    description: 'The libcuda (driver) file to load, tried before the search.',
    defaultValue: 'searched: CUDA_PATH, CUDA_HOME, /usr/local/cuda*, ldconfig -p, the loader',
    read: (t, s) => {
      s.libraries.libcudaPath = t;
    },
  },
  {
    name: 'CUOP_NVJITLINK_PATH',
    field: 'libraries.nvJitLinkPath',
    description:
      'The libnvJitLink file that links -rdc programs, prebuilt objects and LTO IR, tried before the search ' +
      "(without one, nvcc's nvlink links).",
    defaultValue:
      'searched: next to libnvrtc, CUDA_PATH, CUDA_HOME, /usr/local/cuda*, ldconfig -p, Python wheels',
    read: (t, s) => {
      s.libraries.nvJitLinkPath = t;
    },
  },
  {
    name: 'CUOP_REMOTE_CACHE',
    field: 'remote.url',
    description:
      'The shared tier: redis://[user:password@]host:port[/db], rediss:// (TLS) or redis+cluster://host:port,… ' +
      '(a Redis Cluster). Looked up after the disk; compiles are published to it.',
    defaultValue: 'none (no remote tier)',
    read: (t, s) => {
      const bad = new Error(`expected a redis://, rediss:// or redis+cluster:// URL, got ${quoted(t)}`);
      const m = /^(redis|rediss|redis\+cluster):\/\/(?:[^@/]*@)?([^/?#]+)/.exec(t);
      if (!m) throw bad;
      for (const node of m[2]!.split(','))
        if (!/^[\w.-]+(:\d+)?$|^\[[0-9a-f:]+\](:\d+)?$/i.test(node)) throw bad;
      s.remote.url = t;
    },
  },
  {
    name: 'CUOP_REMOTE_PASSWORD',
    field: 'remote.password',
    secret: true,
    description: "The remote server's password (ACL user in the URL), instead of one written in the URL.",
    defaultValue: "the URL's, else none",
    read: (t, s) => {
      s.remote.password = t;
    },
  },
  {
    name: 'CUOP_REMOTE_SECRET',
    field: 'remote.secrets',
    secret: true,
    description:
      'id:secret[,id:secret…]: entries are signed (HMAC-SHA256) with the first and accepted when signed with any ' +
      'of them (rotation). Without it the remote tier is read-only.',
    defaultValue: 'none (read-only)',
    read: (t, s) => {
      const secrets = t.split(',').map((part) => {
        const at = part.indexOf(':');
        const id = at > 0 ? part.slice(0, at) : '';
        const secret = at > 0 ? part.slice(at + 1) : '';
        if (!/^[\w.-]{1,64}$/.test(id) || secret.length < 16)
          throw new Error(
            'expected id:secret pairs (id of letters, digits, . _ -; a secret of 16 or more characters)',
          );
        return { id, secret };
      });
      s.remote.secrets = secrets;
    },
  },
  {
    name: 'CUOP_REMOTE_ALLOW_UNSIGNED',
    field: 'remote.allowUnsigned',
    description:
      '1: read and write unsigned remote entries (only where every writer is trusted by other means).',
    defaultValue: 'false',
    read: (t, s) => {
      s.remote.allowUnsigned = flag(t);
    },
  },
  {
    name: 'CUOP_REMOTE_PREFIX',
    field: 'remote.prefix',
    description: 'Namespace of every remote key (a team, a project).',
    defaultValue: "'cuop:'",
    read: (t, s) => {
      if (t.length > 256) throw new Error(`expected at most 256 characters, got ${quoted(t)}`);
      s.remote.prefix = t;
    },
  },
  {
    name: 'CUOP_REMOTE_TTL',
    field: 'remote.ttlSeconds',
    description: 'Seconds a remote entry lives after its last use (each hit renews it).',
    defaultValue: '2592000 (30 days)',
    read: (t, s) => {
      const v = Number(t);
      if (!(Number.isInteger(v) && v > 0))
        throw new Error(`expected a positive whole number of seconds, got ${quoted(t)}`);
      s.remote.ttlSeconds = v;
    },
  },
  {
    name: 'CUOP_REMOTE_TIMEOUT_MS',
    field: 'remote.timeoutMs',
    description: 'Deadline of each remote call; repeated failures or timeouts open a circuit breaker.',
    defaultValue: '50',
    read: (t, s) => {
      const v = Number(t);
      if (!(Number.isFinite(v) && v > 0))
        throw new Error(`expected a positive number of milliseconds, got ${quoted(t)}`);
      s.remote.timeoutMs = v;
    },
  },
  {
    name: 'CUOP_RECORD',
    field: 'jit.record',
    description:
      'A manifest file: every kernel spec a run looks up is appended to it (deduplicated), for ' +
      '`cuop cache warm`, `cuop cache check` and `cuop cache export --manifest`.',
    defaultValue: 'none (nothing recorded)',
    read: (t, s) => {
      if (t.includes('\0')) throw new Error('expected a file path');
      s.jit.record = t;
    },
  },
];

/** Every variable cuop reads: name, where it lands in Settings, what it does, its default. */
export const SETTINGS_VARIABLES: readonly SettingsVariable[] = Object.freeze(
  VARIABLES.map(({ name, field, description, defaultValue, secret }) =>
    Object.freeze({ name, field, description, defaultValue, ...(secret ? { secret } : {}) }),
  ),
);

/**
 * Parse and validate every CUOP_* variable of `env`. Never throws: an unset or empty variable gives the default,
 * a bad one gives the default and a problem in `problems`. The result is deeply frozen.
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const d = DEFAULT_SETTINGS;
  const draft: Draft = {
    cache: { ...d.cache },
    compiler: { ...d.compiler },
    libraries: { ...d.libraries },
    remote: { ...d.remote },
    jit: { ...d.jit },
    debug: d.debug,
  };
  const problems: SettingsProblem[] = [];
  for (const v of VARIABLES) {
    const text = env[v.name];
    if (text === undefined || text === '') continue;
    try {
      v.read(text, draft);
    } catch (e) {
      problems.push({ variable: v.name, value: shownText(v, text), message: (e as Error).message });
    }
  }
  return deepFreeze({ ...draft, problems });
}

let memo: { key: string; settings: Settings } | undefined;

/**
 * readSettings, remembered: parsed again only when one of the variables' values changed (reading them costs
 * microseconds; a process that sets process.env.CUOP_* at run time is still seen). For process.env by default;
 * functions taking an `env` for tests pass theirs.
 */
export function getSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const key = JSON.stringify(VARIABLES.map((v) => env[v.name] ?? null));
  if (memo?.key !== key) memo = { key, settings: readSettings(env) };
  return memo.settings;
}

/** The problem reported for `variable`, if its value could not be used. */
export function settingsProblem(settings: Settings, variable: string): SettingsProblem | undefined {
  return settings.problems.find((p) => p.variable === variable);
}

/** A variable's text as it may be printed: credentials hidden (a URL's password, a secret, a password). */
function shownText(v: Pick<SettingsVariable, 'secret'>, text: string): string {
  return v.secret ? '(hidden)' : redactUrlPassword(text);
}

/** A URL with its password (`//user:password@`) shown as `***`, for logs and listings. */
export function redactUrlPassword(text: string): string {
  return text.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@');
}

/** The value of `variable` for listings (`cuop info`): credentials hidden, secrets by key id only. */
export function shownSettingValue(settings: Settings, variable: SettingsVariable): unknown {
  const value = settingValue(settings, variable.field);
  if (variable.field === 'remote.secrets') {
    return (value as readonly { id: string }[]).map((s) => `${s.id}:(hidden)`);
  }
  if (variable.secret) return value === undefined ? undefined : '(hidden)';
  return typeof value === 'string' ? shownText(variable, value) : value;
}

/** The value at `field` ('cache.maxDiskBytes'), for listings. */
export function settingValue(settings: Settings, field: SettingsField): unknown {
  const [group, key] = field.split('.') as [string, string | undefined];
  const top = (settings as unknown as Record<string, unknown>)[group];
  return key === undefined ? top : (top as Record<string, unknown>)[key];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
