// A TCP proxy in front of a real redis-server that misbehaves on demand: answers held back (a slow network), the
// link cut (connections destroyed, the port closed: a partition) and healed on the same port, or answers corrupted
// (bytes flipped in the replies, or bytes that are no RESP at all pushed in). For the remote tier's fault tests and
// the torture harness's network scenario; no node:test import, so a scenario may use it.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Garbage = 'none' | 'flip' | 'junk' | 'extra-reply';

export interface FaultProxy {
  readonly port: number;
  readonly url: string;
  /** Every answer held back this long (ms). */
  delayMs: number;
  /**
   * Corrupts answers: 'flip' one byte of each, 'junk' bytes that start no RESP2 reply, 'extra-reply' a reply that
   * answers no command (a null bulk string after each answer).
   */
  garbage: Garbage;
  /** Answers corrupted so far. */
  readonly corrupted: number;
  /** Destroys every connection and stops listening: a client sees its link drop and new ones refused. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  heal(): Promise<void>;
  close(): Promise<void>;
}

export async function faultProxy(upstreamPort: number, port = 0): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const state = { delayMs: 0, garbage: 'none' as Garbage, corrupted: 0 };
  const corrupt = (d: Buffer): Buffer => {
    switch (state.garbage) {
      case 'none':
        return d;
      case 'flip': {
        const c = Buffer.from(d);
        const at = (state.corrupted * 7919) % c.length;
        c[at] = c[at]! ^ 0x20;
        state.corrupted++;
        return c;
      }
      case 'junk':
        state.corrupted++;
        return Buffer.concat([Buffer.from('\u0000\u00ffnot resp\r\n', 'latin1'), d]);
      case 'extra-reply':
        state.corrupted++;
        return Buffer.concat([d, Buffer.from('$-1\r\n')]);
    }
  };
  const onClient = (client: Socket): void => {
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(client).add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const out = corrupt(d);
      if (state.delayMs <= 0) {
        if (client.writable) client.write(out);
        return;
      }
      const t = setTimeout(() => client.writable && client.write(out), state.delayMs);
      t.unref();
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  };
  let server: Server | undefined;
  const listen = (p: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = createServer(onClient);
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => {
        server = s;
        resolve((s.address() as { port: number }).port);
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      const s = server;
      server = undefined;
      s.close(() => resolve());
    });
  const bound = await listen(port);
  return {
    port: bound,
    url: `redis://127.0.0.1:${bound}`,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    get garbage() {
      return state.garbage;
    },
    set garbage(g: Garbage) {
      state.garbage = g;
    },
    get corrupted() {
      return state.corrupted;
    },
    cut: stop,
    heal: async () => {
      if (server) return;
      // The port was ours a moment ago; another process may grab it in between (then this throws).
      for (let i = 0; ; i++) {
        try {
          await listen(bound);
          return;
        } catch (e) {
          if (i >= 50) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
    close: stop,
  };
}
