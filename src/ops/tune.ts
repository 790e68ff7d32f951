// Autotuning that remembers: time a set of candidate configurations of an operator for one problem (a shape bucket),
// keep the fastest, and store the outcome as small records in the kernel cache (src/cache/records.ts), so that every
// tier (memory, disk, Redis) and every bundle carries it and a fresh process reuses it without timing anything.
//
// Generic over the configuration type C: an operator brings its candidates, a digest of a configuration, a `prepare`
// (compile them all, concurrently) and a `time` function (device milliseconds of one candidate); this module owns the
// records and their validation. Two kinds of records, both immutable by key as kernels are:
//   - `gemm-tuning-timing`-style timing records, one per (identity, problem, configuration digest): a candidate's
//     time. When the candidate set grows, the candidates that stayed are not timed again.
//   - winner records, one per (identity, problem, digest of the whole candidate set): the winner and every timing.
//     A fresh process with the same candidates reads this one record and times nothing.
// Keys and payloads both carry the identity (device name, arch, driver version, cuop's code-generation epochs) and
// the problem. A payload that disagrees with what was asked for (another device, arch, driver or epoch, another
// schema, a winner not in the candidate set, bad JSON) is ignored, counted as rejected and replaced.
import { CODEGEN_EPOCH, recordKeySpec, sha256Hex } from '../cache/index.js';
import type { KeySpec } from '../cache/index.js';

/** How an operator with configurations chooses one: 'off' (by shape, no timing), 'auto' (a few), 'exhaustive'. */
export type TuneMode = 'off' | 'auto' | 'exhaustive';

/** The tune modes, for validation. */
export const TUNE_MODES: readonly TuneMode[] = ['off', 'auto', 'exhaustive'];

/**
 * cuop's operator code-generation epoch: bump it whenever a generator in src/ops changes what its configurations
 * compile to (kernels are re-keyed by their source anyway; tuning records are not, so this is what retires them).
 */
export const OPS_CODEGEN_EPOCH = 1;

/** Version of the tuning records' payload; part of their keys. */
export const TUNING_SCHEMA = 1;

/** Which device a timing was taken on: the name, the arch (`sm_90`) and the driver version. */
export interface TuningIdentity {
  readonly device: string;
  readonly arch: string;
  readonly driver: string;
}

/** What was tuned: the operator and every field that selects its kernel (dtypes, transposes, epilogue, bucket). */
export interface TuningProblem {
  readonly op: string;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

/** Where tuning records live: a KernelCache (its getRecord/putRecord). */
export interface TuningRecordStore {
  /** The payload stored under the record's key spec, or undefined. */
  getRecord(spec: KeySpec): Promise<Buffer | undefined>;
  /** Stores a payload under the record's key spec (`replace`: over an existing one). */
  putRecord(spec: KeySpec, payload: Buffer, opts?: { costMs?: number; replace?: boolean }): Promise<void>;
}

/** Counters of tuning decisions. */
export interface TuningStats {
  /** Decisions that timed at least one candidate. */
  tuningRuns: number;
  /** Decisions answered by a stored winner record, timing nothing. */
  tuningReused: number;
  /** Stored records ignored as stale, foreign or malformed. */
  tuningRejected: number;
  /** Candidates timed. */
  candidatesTimed: number;
  /** Candidate timings taken from stored timing records instead of timing again. */
  timingsReused: number;
  /** Candidates whose timing failed (compile error, launch refused): excluded. */
  candidatesFailed: number;
}

/** A set of counters at zero. */
export function emptyTuningStats(): TuningStats {
  return {
    tuningRuns: 0,
    tuningReused: 0,
    tuningRejected: 0,
    candidatesTimed: 0,
    timingsReused: 0,
    candidatesFailed: 0,
  };
}

const processStats = emptyTuningStats();

/** This process's tuning counters, over every operator (a copy). */
export function tuningStats(): TuningStats {
  return { ...processStats };
}

/** What tune() needs: who and what is tuned, the candidates, and how to prepare and time one. */
export interface TuneOptions<C> {
  readonly identity: TuningIdentity;
  readonly problem: TuningProblem;
  /** Candidate configurations (duplicates by digest are dropped). */
  readonly candidates: readonly C[];
  /** Digest of a configuration (default: configDigest, over its JSON with sorted keys). */
  readonly digest?: (c: C) => string;
  /** Called once with the candidates that need timing, before any is timed (compile them concurrently here). */
  readonly prepare?: (candidates: readonly C[]) => Promise<void>;
  /** Device milliseconds of one candidate; throwing excludes it. Called one candidate at a time. */
  readonly time: (c: C) => Promise<number>;
  readonly store: TuningRecordStore;
  /** Further counters to bump besides the process's (e.g. the operator's own). */
  readonly stats?: TuningStats;
}

/** What tune() decided. */
export interface TuneOutcome<C> {
  readonly winner: C;
  readonly winnerDigest: string;
  /** The winner's time in milliseconds. */
  readonly ms: number;
  /** True when a stored winner record answered (nothing was timed). */
  readonly reused: boolean;
  /** Candidates timed by this call. */
  readonly timed: number;
  /** Candidate timings reused from stored timing records. */
  readonly timingsReused: number;
  /** Stored records ignored by this call. */
  readonly rejected: number;
  /** Milliseconds per candidate digest (failed candidates absent). */
  readonly timings: Readonly<Record<string, number>>;
}

/** JSON with object keys sorted, so equal values have equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The default digest of a configuration: 32 hex digits of SHA-256 over its canonical JSON. */
export function configDigest(c: unknown): string {
  return sha256Hex(canonicalJson(c)).slice(0, 32);
}

/** Digest of a candidate set (order does not matter). */
export function candidateSetDigest(digests: readonly string[]): string {
  return sha256Hex([...new Set(digests)].sort().join('\n')).slice(0, 32);
}

/** The record kinds tune() stores. */
export type TuningRecordKind = 'tuning-winner' | 'tuning-timing';

/**
 * The key spec of a tuning record. `subject`: the candidate-set digest (winner) or the configuration digest (timing).
 * Every field of the identity, the problem, the epochs and the schema is in the key.
 */
export function tuningRecordSpec(
  kind: TuningRecordKind,
  identity: TuningIdentity,
  problem: TuningProblem,
  subject: string,
): KeySpec {
  const fields: Record<string, string | number | boolean> = {
    device: identity.device,
    driver: identity.driver,
    cacheEpoch: CODEGEN_EPOCH,
    opsEpoch: OPS_CODEGEN_EPOCH,
    op: problem.op,
    subject,
  };
  for (const [k, v] of Object.entries(problem.fields)) fields[`p.${k}`] = v;
  return recordKeySpec({ kind, schema: TUNING_SCHEMA, target: identity.arch, fields });
}

/** The payload of a timing record. */
interface TimingPayload {
  schema: number;
  kind: 'tuning-timing';
  identity: TuningIdentity;
  epochs: { cache: number; ops: number };
  problem: TuningProblem;
  digest: string;
  config: unknown;
  ms: number;
}

/** The payload of a winner record. */
interface WinnerPayload {
  schema: number;
  kind: 'tuning-winner';
  identity: TuningIdentity;
  epochs: { cache: number; ops: number };
  problem: TuningProblem;
  candidates: string;
  winner: string;
  config: unknown;
  ms: number;
  timings: Record<string, number>;
}

const epochs = (): { cache: number; ops: number } => ({ cache: CODEGEN_EPOCH, ops: OPS_CODEGEN_EPOCH });

/** Why a stored payload must not be used for this identity and problem, or undefined when it is sound. */
function payloadProblem(
  raw: Buffer,
  kind: TuningRecordKind,
  identity: TuningIdentity,
  problem: TuningProblem,
): { why: string } | { data: Record<string, unknown> } {
  let data: unknown;
  try {
    data = JSON.parse(raw.toString('utf8'));
  } catch {
    return { why: 'not JSON' };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { why: 'not an object' };
  const d = data as Record<string, unknown>;
  if (d['schema'] !== TUNING_SCHEMA) return { why: `schema ${String(d['schema'])}` };
  if (d['kind'] !== kind) return { why: `kind ${String(d['kind'])}` };
  if (canonicalJson(d['identity']) !== canonicalJson(identity))
    return { why: 'another device, arch or driver' };
  if (canonicalJson(d['epochs']) !== canonicalJson(epochs())) return { why: 'another code-generation epoch' };
  if (canonicalJson(d['problem']) !== canonicalJson(problem)) return { why: 'another problem' };
  const ms = d['ms'];
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return { why: 'bad time' };
  return { data: d };
}

/**
 * Choose the fastest candidate for one identity and problem, remembering the outcome in `store`. Reads the winner
 * record of this exact candidate set first (a hit times nothing); otherwise reuses each candidate's stored timing,
 * prepares and times only the rest (one at a time), and stores the new timings and the winner record.
 */
export async function tune<C>(o: TuneOptions<C>): Promise<TuneOutcome<C>> {
  const digestOf = o.digest ?? configDigest;
  const byDigest = new Map<string, C>();
  for (const c of o.candidates) {
    const d = digestOf(c);
    if (!byDigest.has(d)) byDigest.set(d, c);
  }
  if (byDigest.size === 0) throw new RangeError(`tune ${o.problem.op}: no candidate configurations`);
  const counters = [processStats, ...(o.stats ? [o.stats] : [])];
  const bump = (k: keyof TuningStats, n = 1): void => {
    for (const c of counters) c[k] += n;
  };
  const setDigest = candidateSetDigest([...byDigest.keys()]);
  const winnerSpec = tuningRecordSpec('tuning-winner', o.identity, o.problem, setDigest);
  let rejected = 0;
  let replaceWinner = false;

  const stored = await o.store.getRecord(winnerSpec);
  if (stored !== undefined) {
    const p = payloadProblem(stored, 'tuning-winner', o.identity, o.problem);
    const d = 'data' in p ? p.data : undefined;
    const winner = d && typeof d['winner'] === 'string' ? byDigest.get(d['winner']) : undefined;
    if (
      d &&
      d['candidates'] === setDigest &&
      winner !== undefined &&
      canonicalJson(d['config']) === canonicalJson(winner) &&
      isTimings(d['timings'])
    ) {
      bump('tuningReused');
      return {
        winner,
        winnerDigest: d['winner'] as string,
        ms: d['ms'] as number,
        reused: true,
        timed: 0,
        timingsReused: 0,
        rejected: 0,
        timings: d['timings'] as Record<string, number>,
      };
    }
    rejected++;
    replaceWinner = true;
    bump('tuningRejected');
  }

  // Timings of candidates that were timed before (in a smaller or other set).
  const timings: Record<string, number> = {};
  const toTime: [string, C, boolean][] = [];
  let reusedTimings = 0;
  for (const [digest, c] of byDigest) {
    const spec = tuningRecordSpec('tuning-timing', o.identity, o.problem, digest);
    const raw = await o.store.getRecord(spec);
    if (raw !== undefined) {
      const p = payloadProblem(raw, 'tuning-timing', o.identity, o.problem);
      if (
        'data' in p &&
        p.data['digest'] === digest &&
        canonicalJson(p.data['config']) === canonicalJson(c)
      ) {
        timings[digest] = p.data['ms'] as number;
        reusedTimings++;
        continue;
      }
      rejected++;
      bump('tuningRejected');
      toTime.push([digest, c, true]);
    } else {
      toTime.push([digest, c, false]);
    }
  }
  bump('timingsReused', reusedTimings);

  const t0 = Date.now();
  let firstError: unknown;
  if (toTime.length > 0) {
    await o.prepare?.(toTime.map(([, c]) => c));
    for (const [digest, c, replace] of toTime) {
      let ms: number;
      try {
        ms = await o.time(c);
        if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`time of ${digest} is ${ms}`);
      } catch (e) {
        firstError ??= e;
        bump('candidatesFailed');
        continue;
      }
      bump('candidatesTimed');
      timings[digest] = ms;
      const payload: TimingPayload = {
        schema: TUNING_SCHEMA,
        kind: 'tuning-timing',
        identity: o.identity,
        epochs: epochs(),
        problem: o.problem,
        digest,
        config: c,
        ms,
      };
      await o.store.putRecord(
        tuningRecordSpec('tuning-timing', o.identity, o.problem, digest),
        Buffer.from(JSON.stringify(payload)),
        { replace },
      );
    }
  }
  let best: string | undefined;
  for (const d of byDigest.keys()) {
    const ms = timings[d];
    if (ms !== undefined && (best === undefined || ms < (timings[best] as number))) best = d;
  }
  if (best === undefined) {
    throw new Error(`tune ${o.problem.op}: every candidate failed (the first: ${String(firstError)})`, {
      cause: firstError,
    });
  }
  const winner = byDigest.get(best) as C;
  const ms = timings[best] as number;
  const payload: WinnerPayload = {
    schema: TUNING_SCHEMA,
    kind: 'tuning-winner',
    identity: o.identity,
    epochs: epochs(),
    problem: o.problem,
    candidates: setDigest,
    winner: best,
    config: winner,
    ms,
    timings,
  };
  await o.store.putRecord(winnerSpec, Buffer.from(JSON.stringify(payload)), {
    replace: replaceWinner,
    costMs: Date.now() - t0,
  });
  if (toTime.length > 0) bump('tuningRuns');
  else bump('tuningReused');
  return {
    winner,
    winnerDigest: best,
    ms,
    reused: false,
    timed: toTime.length,
    timingsReused: reusedTimings,
    rejected,
    timings,
  };
}

const isTimings = (v: unknown): boolean =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.values(v as Record<string, unknown>).every((x) => typeof x === 'number' && Number.isFinite(x));

/** A record store in this process's memory only (for a provider without a cache). */
export class MemoryRecordStore implements TuningRecordStore {
  private readonly records = new Map<string, Buffer>();

  /** The payload stored under the spec's target and source text, if any. */
  async getRecord(spec: KeySpec): Promise<Buffer | undefined> {
    return this.records.get(`${spec.target}\n${spec.source}`);
  }

  /** Stores the payload (an existing one is kept unless `replace`). */
  async putRecord(spec: KeySpec, payload: Buffer, opts: { replace?: boolean } = {}): Promise<void> {
    const id = `${spec.target}\n${spec.source}`;
    if (opts.replace || !this.records.has(id)) this.records.set(id, payload);
  }
}
