import net from 'node:net';

/**
 * A TCP forwarder on 127.0.0.1 in front of a local port, which a test can break two ways:
 * `hang()` stops moving bytes in both directions and leaves every connection open (a network
 * partition as a node sees it: requests sent, never answered), and new connections are accepted
 * and never answered; `cut()` ends every connection and refuses new ones (as a stopped server
 * would). `mend()` forwards again.
 */
export interface TcpGate {
  port: number;
  hang(): void;
  cut(): void;
  mend(): void;
  /** Ends every connection and stops listening; safe to call twice. */
  close(): Promise<void>;
}

export async function startTcpGate(targetPort: number): Promise<TcpGate> {
  const sockets = new Set<net.Socket>();
  let hung = false;
  let cut = false;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    track(client);
    if (hung) return;
    const upstream = net.connect(targetPort, '127.0.0.1');
    track(upstream);
    client.on('data', (chunk: Buffer) => {
      if (!hung) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!hung) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closed = false;
  return {
    port,
    hang: () => {
      hung = true;
    },
    cut: () => {
      cut = true;
      for (const socket of sockets) socket.destroy();
    },
    mend: () => {
      cut = false;
      hung = false;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
