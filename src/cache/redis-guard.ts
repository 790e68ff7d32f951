// A guard between the Redis server and ioredis: every byte the server sends is framed as RESP2 here first, and a
// connection whose server answers something that is not a RESP2 reply to a command it was sent (a byte that starts
// no RESP2 type, a RESP3 push, a broken length, a reply more than the commands sent) is destroyed before ioredis
// sees it. Why: ioredis 6 rethrows on process.nextTick what its reply handler throws, and it throws on a reply that
// answers no queued command (`null.toString()` in DataHandler.shiftCommand) or on a push frame with a null head, so
// a server or proxy answering garbage crashed the whole process with an uncaught TypeError (found by the torture
// harness's network scenario). A destroyed connection is an ordinary fault: the commands in flight fail, the tier
// counts errors, the breaker opens, ioredis reconnects in the background. No ioredis internals are patched: the guard
// is a connector (ioredis's `Connector` option) that makes the socket as ioredis's own StandaloneConnector does and
// watches the socket's own `write` and `data` events. cuop never subscribes or monitors, the two RESP2 modes in which
// a server legitimately sends more replies than it was sent commands.
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

import type { AbstractConnector } from 'ioredis';

/** The longest bulk string accepted (Redis's own limit) and the deepest nesting of arrays cuop's commands get. */
const MAX_BULK = 512 * 2 ** 20;
const MAX_ARRAY = 2 ** 24;
const MAX_DEPTH = 16;
const MAX_LINE = 2 ** 20;

/**
 * A streaming RESP2 framer: counts complete top-level values, or names the first byte that breaks the protocol (then
 * it stays broken). The same framer counts the commands a client sends (arrays of bulk strings) and the replies.
 */
export class Resp2Framer {
  /** Complete top-level values seen. */
  frames = 0;
  /** Why the stream is not RESP2, once it is not. */
  broken: string | undefined;
  /** Elements still to come in each open array, innermost last. */
  private readonly open: number[] = [];
  /** The type byte and the text of the line being read, or undefined between values. */
  private lineType: number | undefined;
  private line = '';
  private sawCr = false;
  /** Bytes of a bulk string still to come (its CRLF included), when > 0. */
  private bulkLeft = 0;
  /** The last two bytes of the bulk string read so far (must end as CRLF). */
  private bulkTail = '';

  /** Feeds bytes; returns `broken` (undefined while the stream is sound). */
  push(chunk: Buffer): string | undefined {
    let i = 0;
    while (i < chunk.length && this.broken === undefined) {
      if (this.bulkLeft > 0) {
        const take = Math.min(this.bulkLeft, chunk.length - i);
        this.bulkLeft -= take;
        this.bulkTail = (
          this.bulkTail + chunk.subarray(i + take - Math.min(take, 2), i + take).toString('latin1')
        ).slice(-2);
        i += take;
        if (this.bulkLeft === 0) {
          if (this.bulkTail !== '\r\n') this.broken = 'a bulk string not ended by CRLF';
          else this.complete();
        }
        continue;
      }
      const b = chunk[i++]!;
      if (this.lineType === undefined) {
        // + simple string, - error, : integer, $ bulk string, * array: nothing else in RESP2.
        if (b !== 0x2b && b !== 0x2d && b !== 0x3a && b !== 0x24 && b !== 0x2a) {
          this.broken = `byte 0x${b.toString(16).padStart(2, '0')} where a RESP2 reply starts`;
          break;
        }
        this.lineType = b;
        this.line = '';
        this.sawCr = false;
        continue;
      }
      if (this.sawCr) {
        if (b !== 0x0a) this.broken = 'CR not followed by LF';
        else this.endLine();
        continue;
      }
      if (b === 0x0d) this.sawCr = true;
      else if (b === 0x0a) this.broken = 'LF without CR';
      else if (this.line.length >= MAX_LINE) this.broken = 'a line longer than 1 MiB';
      else this.line += String.fromCharCode(b);
    }
    return this.broken;
  }

  private endLine(): void {
    const type = this.lineType!;
    const text = this.line;
    this.lineType = undefined;
    if (type === 0x2b || type === 0x2d) return this.complete();
    if (!/^-?\d{1,19}$/.test(text)) {
      this.broken = `not an integer: ${JSON.stringify(text.slice(0, 40))}`;
      return;
    }
    const n = Number(text);
    if (type === 0x3a) return this.complete();
    if (n < -1) {
      this.broken = `a negative length (${n})`;
      return;
    }
    if (type === 0x24) {
      if (n > MAX_BULK) this.broken = `a bulk string of ${n} bytes`;
      else if (n === -1) this.complete();
      else {
        this.bulkLeft = n + 2;
        this.bulkTail = '';
      }
      return;
    }
    if (n > MAX_ARRAY) this.broken = `an array of ${n} elements`;
    else if (n <= 0) this.complete();
    else if (this.open.length >= MAX_DEPTH) this.broken = 'arrays nested too deep';
    else this.open.push(n);
  }

  /** A value ended: it fills a slot of the innermost open array, or it is a frame of its own. */
  private complete(): void {
    for (;;) {
      const top = this.open.length - 1;
      if (top < 0) {
        this.frames++;
        return;
      }
      if (--this.open[top]! > 0) return;
      this.open.pop();
    }
  }
}

/** Why a guarded connection was closed: the server's bytes were not a RESP2 answer to what it was sent. */
export class RemoteProtocolError extends Error {
  override readonly name = 'RemoteProtocolError';
}

/**
 * Watches a socket: the commands written to it and the replies read from it, each through a Resp2Framer. The first
 * reply that breaks RESP2, or that answers no command sent, destroys the socket (with a RemoteProtocolError) before
 * any listener sees that chunk.
 */
export function guardSocket<S extends Socket | TLSSocket>(socket: S): S {
  const sent = new Resp2Framer();
  const received = new Resp2Framer();
  const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    if (sent.broken === undefined) {
      if (typeof chunk === 'string')
        sent.push(Buffer.from(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array)
        sent.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    }
    return write(chunk, ...rest);
  }) as S['write'];
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...a: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'data' && args[0] instanceof Uint8Array) {
      const d = args[0];
      let why = received.push(Buffer.from(d.buffer, d.byteOffset, d.length));
      // Our own commands are always RESP2; should they ever not frame, only the replies' syntax is checked.
      if (why === undefined && sent.broken === undefined && received.frames > sent.frames)
        why = `${received.frames - sent.frames} more replies than commands sent`;
      if (why !== undefined) {
        socket.destroy(new RemoteProtocolError(`the server's answer is not a RESP2 reply: ${why}`));
        return false;
      }
    }
    return emit(event, ...args);
  }) as S['emit'];
  return socket;
}

/** What ioredis hands a connector (the Redis options; only the connection's address matters here). */
interface ConnectorOptions {
  host?: string;
  port?: number;
  family?: number;
  path?: string;
  tls?: ConnectionOptions;
  disconnectTimeout?: number;
}

/**
 * ioredis's `Connector` option: a connector that makes the socket as ioredis's StandaloneConnector does, guarded
 * (guardSocket). `base` is ioredis's exported AbstractConnector (the client is loaded lazily, so the class is made
 * once it is).
 */
export function guardedConnector(
  base: typeof AbstractConnector,
): new (options: unknown) => AbstractConnector {
  return class GuardedConnector extends base {
    private readonly options: ConnectorOptions;

    constructor(options: unknown) {
      const o = (options ?? {}) as ConnectorOptions;
      super(o.disconnectTimeout ?? 2000);
      this.options = o;
    }

    connect(): Promise<Socket | TLSSocket> {
      const o = this.options;
      this.connecting = true;
      return new Promise((resolve, reject) => {
        // As ioredis's own connector: the socket is made on the next tick, unless disconnect() came first.
        process.nextTick(() => {
          if (!this.connecting) {
            reject(new Error('Connection is closed.'));
            return;
          }
          const where = o.path
            ? { path: o.path }
            : {
                ...(o.port != null ? { port: o.port } : {}),
                ...(o.host != null ? { host: o.host } : {}),
                ...(o.family != null ? { family: o.family } : {}),
              };
          let s: Socket | TLSSocket;
          try {
            s = guardSocket(
              o.tls
                ? tlsConnect({ ...where, ...o.tls } as ConnectionOptions)
                : createConnection(where as never),
            );
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
            return;
          }
          s.once('error', (e) => {
            this.firstError = e;
          });
          this.stream = s;
          resolve(s);
        });
      });
    }
  };
}
