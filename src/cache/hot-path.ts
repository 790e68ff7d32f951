// Tells the package's loader (dist/index.js, see scripts/bundle-lib.mjs) that this process ran the lookup path, so
// that V8's code cache it writes at exit holds those functions compiled. A process that never looked a kernel up
// writes none: its cache would hold little more than the top level, and would be kept.
const HOT_PATH_RAN = Symbol.for('cuop.hotPathRan');

export function markHotPathRan(): void {
  (globalThis as Record<symbol, unknown>)[HOT_PATH_RAN] = true;
}
