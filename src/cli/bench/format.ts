// Numbers as people read them: times in ns/µs/ms/s, sizes in KiB/MiB/GiB, three significant digits.

const sig = (x: number): string => {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
};

/** Milliseconds → `412 µs`, `1.27 s`. */
export function formatMs(ms: number): { value: string; unit: string } {
  if (ms >= 1000) return { value: sig(ms / 1000), unit: 's' };
  if (ms >= 1) return { value: sig(ms), unit: 'ms' };
  if (ms >= 1e-3) return { value: sig(ms * 1e3), unit: 'µs' };
  return { value: sig(ms * 1e6), unit: 'ns' };
}

export function formatBytes(b: number): { value: string; unit: string } {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return { value: i === 0 ? v.toFixed(0) : sig(v), unit: units[i]! };
}

export function formatValue(
  value: number,
  unit: 'ms' | 'bytes' | '%' | 'x',
): { value: string; unit: string } {
  if (unit === 'ms') return formatMs(value);
  if (unit === 'bytes') return formatBytes(value);
  if (unit === '%') return { value: value.toFixed(1), unit: '%' };
  return { value: sig(value), unit: '×' };
}

export function formatRatio(r: number): string {
  return r >= 1000 ? `${Math.round(r).toLocaleString('en-US')}×` : `${sig(r)}×`;
}
