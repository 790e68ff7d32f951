// Bundles in and out of a cache: which entries go into one (verified records of the local tiers; an entry that read
// headers from disk stays behind, since the bundle cannot carry those files), and what a bundle may bring in. Every
// entry of a bundle is verified by the format (bundle.ts: names, types, hashes, signature, and recordProblem with
// the SHA-256 of its image, so it is not hashed again here); one built for an arch this host cannot load is skipped with the reason; one already cached
// is left alone, so importing twice is a no-op. Nothing is written before its entry passed every check.
import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';

import { readBundle, writeBundle } from './bundle.js';
import type { LookupPipeline } from './lookup.js';
import type { RemoteSecret } from './remote-value.js';
import type { TierRecord } from './tier.js';

/** The bundle as a whole was refused (structure, an extra or misnamed file, a link, its signature): nothing imported. */
export class BundleRejectedError extends CuopError {
  override readonly name = 'BundleRejectedError';
  declare readonly path: string;
  constructor(path: string, why: string) {
    super(`the bundle ${path} was refused, nothing was imported: ${why}`);
    attachDetails(this, { path });
  }
}
registerErrorClass('BundleRejectedError', BundleRejectedError);

/** What `KernelCache.exportBundle` writes into a bundle, and who signs it. */
export interface BundleExportOptions {
  /** The entries to include (default: every entry of the disk tier). */
  keys?: readonly string[];
  /** Signs the bundle (the remote tier's secrets are the fleet's: CUOP_REMOTE_SECRET by default). */
  signer?: RemoteSecret;
  cuopVersion: string;
}

/**
 * What `KernelCache.exportBundle` wrote: the file, its size, the entries in it, and the keys it could not
 * include.
 */
export interface BundleExportReport {
  path: string;
  bytes: number;
  entries: number;
  signed: boolean;
  /** Keys asked for that no local tier holds. */
  missing: string[];
  skipped: { key: string; why: string }[];
}

/**
 * What `KernelCache.importBundle` accepts: the archs served here, and the secrets a signed bundle must match.
 */
export interface BundleImportOptions {
  /** Archs this cache serves (e.g. the devices' archs); entries for others are skipped. Empty or absent: any. */
  archs?: readonly string[];
  secrets: readonly RemoteSecret[];
  /** Refuse an unsigned bundle (default: when a secret is set). */
  requireSignature: boolean;
}

/**
 * What `KernelCache.importBundle` did with each entry of the bundle: imported, already here, or refused and why.
 */
export interface BundleImportReport {
  path: string;
  signedBy: string | undefined;
  entries: number;
  imported: string[];
  /** Already cached here: left as they are. */
  present: string[];
  incompatible: { key: string; why: string }[];
  rejected: { key: string; why: string }[];
}

/**
 * Why an image built for `target` cannot run on any of `archs` (undefined when it can, or when no arch is given). A
 * cubin for sm_XY loads on sm_XZ with Z ≥ Y; an arch-specific one (sm_90a) only on its own arch.
 */
export function archProblem(target: string, archs: readonly string[] | undefined): string | undefined {
  if (!archs || archs.length === 0) return undefined;
  const t = archNumber(target);
  if (t === undefined) return `built for ${target}, which this cuop does not know`;
  const specific = /[af]$/.test(target);
  const fits = archs.some((arch) => {
    const h = archNumber(arch);
    if (h === undefined) return false;
    if (specific) return target === arch || target.slice(0, -1) === arch;
    return Math.floor(h / 10) === Math.floor(t / 10) && h % 10 >= t % 10;
  });
  return fits ? undefined : `built for ${target}, which cannot run on ${archs.join(', ')}`;
}

// The cache layer reads arch names itself: it loads none of the compiler layer (kept out of every cache user's
// import, and out of the copy the multi-user test runs).
const archNumber = (arch: string): number | undefined => {
  const m = /^sm_(\d{2,3})[af]?$/.exec(arch);
  return m ? Number(m[1]) : undefined;
};

export async function exportBundle(
  lookup: LookupPipeline,
  keys: AsyncIterable<string> | Iterable<string>,
  path: string,
  opts: BundleExportOptions,
): Promise<BundleExportReport> {
  const records: TierRecord[] = [];
  const missing: string[] = [];
  const skipped: { key: string; why: string }[] = [];
  for await (const key of keys) {
    const rec = await lookup.readRecord(key);
    if (!rec) {
      missing.push(key);
      continue;
    }
    if (rec.meta.dependencies !== undefined) {
      const files = rec.meta.dependencies.files.slice(0, 3).map((f) => f.path);
      skipped.push({
        key,
        why: `it read headers from disk (${files.join(', ')}${files.length === 3 ? ', …' : ''}), which a bundle does not carry`,
      });
      continue;
    }
    records.push(rec);
  }
  const written = await writeBundle(path, records, {
    ...(opts.signer ? { signer: opts.signer } : {}),
    cuopVersion: opts.cuopVersion,
  });
  return { path, ...written, missing, skipped };
}

export async function importBundle(
  lookup: LookupPipeline,
  path: string,
  opts: BundleImportOptions,
): Promise<BundleImportReport> {
  let read;
  try {
    read = await readBundle(path, { secrets: opts.secrets, requireSignature: opts.requireSignature });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BundleRejectedError(path, `it cannot be read (${code ?? (e as Error).message})`);
  }
  if (!read.ok) throw new BundleRejectedError(path, read.rejected);
  const report: BundleImportReport = {
    path,
    signedBy: read.signedBy,
    entries: read.entries.length,
    imported: [],
    present: [],
    incompatible: [],
    rejected: [],
  };
  for (const e of read.entries) {
    if ('problem' in e) {
      report.rejected.push({ key: e.key, why: e.problem });
      continue;
    }
    const why = archProblem(e.record.meta.imageTarget ?? e.record.meta.target, opts.archs);
    if (why) {
      report.incompatible.push({ key: e.key, why });
      continue;
    }
    if (await lookup.readRecord(e.key)) {
      report.present.push(e.key);
      continue;
    }
    if (await lookup.adopt(e.record)) report.imported.push(e.key);
    else report.rejected.push({ key: e.key, why: 'no writable persistent tier took it (see the warning)' });
  }
  return report;
}
