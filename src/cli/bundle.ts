// `cuop cache export <out.cuopbundle> (--manifest m | --all)` and `cuop cache import <bundle>`: a warm cache as one
// verified file (cache/bundle.ts, cache/bundle-import.ts).
import { BundleRejectedError, type KernelCache } from '../cache/index.js';
import { Device } from '../runtime/index.js';
import { runManifestKeys } from './warm.js';

export async function runExport(
  cache: KernelCache,
  out: string,
  o: { manifest?: string; all?: boolean; arch?: string; compiler?: string; json?: boolean; version: string },
): Promise<number> {
  if (!o.manifest === !o.all) throw new Error('export needs one of --manifest <file> or --all');
  let keys: string[] | undefined;
  let notCached: string[] = [];
  if (o.manifest) {
    const found = await runManifestKeys(cache, o.manifest, o);
    keys = found.keys;
    notCached = found.misses;
  }
  const r = await cache.exportBundle(out, { ...(keys ? { keys } : {}), cuopVersion: o.version });
  if (o.json) {
    console.log(JSON.stringify({ ...r, notCached }, null, 2));
  } else {
    for (const m of notCached) console.error(`not cached here (run cuop cache warm first): ${m}`);
    for (const s of r.skipped) console.error(`skipped ${s.key.slice(0, 16)}: ${s.why}`);
    console.log(
      `export: ${r.entries} entries, ${(r.bytes / 1024).toFixed(1)} KiB, ${r.signed ? 'signed' : 'unsigned'} → ${out}`,
    );
  }
  return notCached.length > 0 || r.missing.length > 0 ? 1 : 0;
}

/** The archs of this host's devices, or undefined when no driver or device is there (then any arch is taken). */
function hostArchs(): string[] | undefined {
  try {
    const archs = [...new Set(Device.all().map((d) => d.arch))];
    return archs.length > 0 ? archs : undefined;
  } catch {
    return undefined;
  }
}

export async function runImport(
  cache: KernelCache,
  bundle: string,
  o: { arch?: string; allowUnsigned?: boolean; json?: boolean },
): Promise<number> {
  const archs = o.arch ? o.arch.split(',').map((a) => a.trim()) : hostArchs();
  let r;
  try {
    r = await cache.importBundle(bundle, {
      ...(archs ? { archs } : {}),
      ...(o.allowUnsigned ? { requireSignature: false } : {}),
    });
  } catch (e) {
    if (!(e instanceof BundleRejectedError)) throw e;
    if (o.json) console.log(JSON.stringify({ rejected: e.message }, null, 2));
    else console.error(`cuop: ${e.message}`);
    return 1;
  }
  if (o.json) {
    console.log(JSON.stringify({ ...r, archs: archs ?? 'any' }, null, 2));
  } else {
    for (const x of r.incompatible) console.error(`incompatible ${x.key.slice(0, 16)}: ${x.why}`);
    for (const x of r.rejected) console.error(`rejected ${x.key.slice(0, 16)}: ${x.why}`);
    console.log(
      `import: ${r.entries} entries (${r.signedBy ? `signed by ${r.signedBy}` : 'unsigned'}): ${r.imported.length} ` +
        `imported, ${r.present.length} already cached, ${r.incompatible.length} incompatible, ${r.rejected.length} ` +
        `rejected${archs ? '' : ' (no GPU here: entries of every arch taken)'}`,
    );
  }
  return r.rejected.length > 0 ? 1 : 0;
}
