// A family's manifest: which entries were compiled from one source and configuration (every key input but the
// kernel names), with which names, and for those that read headers from disk, which files. It lets a lookup find
// a kernel inside a module compiled with more names, and find the entry matching the headers on disk now.
// Never trusted for correctness beyond pointing at a key: the entry itself is verified as always.
import { dependencyChange, isDependencies, type Dependencies } from './dependencies.js';
import { CACHE_FORMAT_VERSION } from './key.js';

/** One entry of a family: its key, its kernels and the files on disk its key depends on. */
export interface ManifestCandidate {
  /** The entry's key. */
  readonly key: string;
  /** Canonical kernel names the entry's image holds. */
  readonly names: readonly string[];
  readonly dependencies?: Dependencies;
  readonly createdAt: number;
}

/** The known entries of one family (every key input except the kernel names), newest first. */
export interface Manifest {
  readonly formatVersion: number;
  readonly family: string;
  /** Newest first. */
  readonly candidates: readonly ManifestCandidate[];
}

/** Candidates kept per family: a header edited back and forth, or a few modules of one source. */
export const MAX_CANDIDATES = 16;

const HEX64 = /^[0-9a-f]{64}$/;

function isCandidate(v: unknown): v is ManifestCandidate {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c['key'] === 'string' &&
    HEX64.test(c['key']) &&
    Array.isArray(c['names']) &&
    c['names'].every((n) => typeof n === 'string') &&
    (c['dependencies'] === undefined || isDependencies(c['dependencies'])) &&
    typeof c['createdAt'] === 'number'
  );
}

/** Parsed JSON → a manifest of `family`, or undefined when it is not one (then it is ignored and rewritten). */
export function parseManifest(raw: unknown, family: string): Manifest | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (m['formatVersion'] !== CACHE_FORMAT_VERSION || m['family'] !== family) return undefined;
  if (!Array.isArray(m['candidates']) || !m['candidates'].every(isCandidate)) return undefined;
  return m as unknown as Manifest;
}

/** `candidate` first, replacing an older one of the same key; at most MAX_CANDIDATES. */
export function withCandidate(
  manifest: Manifest | undefined,
  family: string,
  candidate: ManifestCandidate,
): Manifest {
  const rest = (manifest?.candidates ?? []).filter((c) => c.key !== candidate.key);
  return {
    formatVersion: CACHE_FORMAT_VERSION,
    family,
    candidates: [candidate, ...rest].slice(0, MAX_CANDIDATES),
  };
}

export function withoutCandidate(manifest: Manifest, key: string): Manifest {
  return { ...manifest, candidates: manifest.candidates.filter((c) => c.key !== key) };
}

function holdsNames(c: ManifestCandidate, names: readonly string[]): boolean {
  for (const n of names) if (!c.names.includes(n)) return false;
  return true;
}

/**
 * The candidates whose image holds every name asked for and whose files on disk are as they were read,
 * newest first. Checking files costs a stat each (a hash only for files that changed), so it runs here, at lookup,
 * and never for a spec whose entry is found under its own key.
 */
export function matchingCandidates(manifest: Manifest, names: readonly string[]): ManifestCandidate[] {
  const out: ManifestCandidate[] = [];
  for (const c of manifest.candidates) {
    if (!holdsNames(c, names)) continue;
    if (c.dependencies && dependencyChange(c.dependencies) !== undefined) continue;
    out.push(c);
  }
  return out;
}
