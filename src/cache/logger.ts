/** Where the cache's messages go. Silent by default except one-time warnings. */
export interface CacheLogger {
  /** One line per decision (key, tier hit/miss, compile, eviction, repair); only called when debugging is on. */
  debug(message: string): void;
  /** Problems the caller was shielded from (unsafe dir, write failure, corrupt entry); each kind is sent once. */
  warn(message: string): void;
}

export const stderrLogger: CacheLogger = {
  debug: (m) => process.stderr.write(`cuop cache: ${m}\n`),
  warn: (m) => process.stderr.write(`cuop cache: warning: ${m}\n`),
};

/** Wraps a CacheLogger with the debug switch and the warn-once bookkeeping. */
export class CacheLog {
  private readonly warned = new Set<string>();
  constructor(
    private readonly sink: CacheLogger,
    readonly debugEnabled: boolean,
  ) {}

  debug(message: string): void {
    if (this.debugEnabled) this.sink.debug(message);
  }

  /** Warns the first time `kind` happens in this process/cache; later ones go to the debug log only. */
  warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) {
      this.debug(message);
      return;
    }
    this.warned.add(kind);
    this.sink.warn(message);
  }
}

/**
 * The warn-once kind of a failed write to a tier: shared by the disk directory's "cannot initialise" (which already
 * says new entries stay in memory) and the publish that then fails, so that a process warns once, not twice.
 */
export const writeFailureKind = (tier: string): string => `write-${tier}`;

export function errorCode(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return e instanceof Error ? e.name : 'unknown';
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
