import { attachDetails, CuopError, registerErrorClass } from '../cuda/errors.js';
import * as zlib from 'node:zlib';

/** How a kernel image is compressed on disk (the policy's `compression`); zstd needs Node 22.15 / 23.8 or later. */
export type Codec = 'none' | 'gzip' | 'brotli' | 'zstd';
export const CODECS: readonly Codec[] = ['none', 'gzip', 'brotli', 'zstd'];

type SyncCodecFn = (buf: Buffer) => Buffer;
interface ZstdZlib {
  zstdCompressSync?: SyncCodecFn;
  zstdDecompressSync?: SyncCodecFn;
}
const z = zlib as unknown as ZstdZlib;

/** zstd is in node:zlib from Node 22.15 / 23.8 on; Node 20 lacks it. Detected at run time, never assumed. */
export function zstdAvailable(): boolean {
  return typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function';
}

export class CodecUnavailableError extends CuopError {
  override readonly name = 'CodecUnavailableError';
  constructor(message: string) {
    super(message);
    attachDetails(this, {});
  }
}
registerErrorClass('CodecUnavailableError', CodecUnavailableError);

export function zstdUnavailableMessage(): string {
  return (
    `compression 'zstd' needs node:zlib zstd support (Node >= 22.15 or >= 23.8); this is Node ${process.versions.node}. ` +
    `Use 'none', 'gzip' or 'brotli'.`
  );
}

/** File-name suffix of a stored image: `<key>.<cubin|ptx>[.<suffix>]`. */
export function codecSuffix(codec: Codec): string {
  switch (codec) {
    case 'none':
      return '';
    case 'gzip':
      return '.gz';
    case 'brotli':
      return '.br';
    case 'zstd':
      return '.zst';
  }
}

export function compress(codec: Codec, raw: Buffer): Buffer {
  switch (codec) {
    case 'none':
      return raw;
    case 'gzip':
      return zlib.gzipSync(raw, { level: 6 });
    case 'brotli':
      return zlib.brotliCompressSync(raw, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: 5,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      });
    case 'zstd':
      if (!z.zstdCompressSync) throw new CodecUnavailableError(zstdUnavailableMessage());
      return z.zstdCompressSync(raw);
  }
}

/** Throws on malformed input (the caller treats that as a corrupt entry). */
export function decompress(codec: Codec, stored: Buffer, maxBytes: number): Buffer {
  switch (codec) {
    case 'none':
      return stored;
    case 'gzip':
      return zlib.gunzipSync(stored, { maxOutputLength: Math.max(1, maxBytes) });
    case 'brotli':
      return zlib.brotliDecompressSync(stored, { maxOutputLength: Math.max(1, maxBytes) });
    case 'zstd':
      if (!z.zstdDecompressSync) throw new CodecUnavailableError(zstdUnavailableMessage());
      return z.zstdDecompressSync(stored);
  }
}
