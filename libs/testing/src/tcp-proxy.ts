import net from 'node:net';

/**
 * A TCP proxy in front of a server that a test can cut off, stall and restore, to take a dependency
 * (ClickHouse, Postgres) away from one process without stopping it for everybody else.
 */
export interface TcpProxy {
  port: number;
  /** Drops open connections and refuses new ones until restored. */
  cut(): void;
  /**
   * A server that stops answering without closing anything: open connections stay open but
   * nothing more is forwarded either way, and new connections are accepted and held, never
   * forwarded, until restored.
   */
  stall(): void;
  /** Forwards new connections again; connections held while stalled are dropped. */
  restore(): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let state: 'forwarding' | 'cut' | 'stalled' = 'forwarding';
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    if (state === 'cut') {
      client.destroy();
      return;
    }
    track(client);
    if (state === 'stalled') {
      client.pause();
      client.on('error', () => client.destroy());
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    track(upstream);
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  const cut = () => {
    state = 'cut';
    dropAll();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    stall: () => {
      state = 'stalled';
      // Each socket stops reading: what either side sends stays unread in the kernel's buffers.
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    restore: () => {
      if (state === 'stalled') dropAll();
      state = 'forwarding';
    },
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
