import http from 'node:http';
import net from 'node:net';

export interface Recorded {
  /** `host:port` as the client asked for it. */
  target: string;
  username: string | undefined;
  password: string | undefined;
  /** For SOCKS5: 'domain', 'ipv4' or 'ipv6' (how the target was sent). */
  addressType?: string;
  /** For HTTP: the CONNECT request's User-Agent header. */
  userAgent?: string | undefined;
}

export interface TestProxy {
  port: number;
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

function tracked(server: net.Server): () => Promise<void> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/**
 * An HTTP proxy that demands Basic credentials and records every CONNECT. Being offline, it
 * answers an authenticated CONNECT with 502 (the target is out of reach), a bad one with 407.
 * With `tunnelLoopback`, an authenticated CONNECT to 127.0.0.1 is tunnelled (and only that); with
 * `holdAuthenticated`, an authenticated CONNECT is never answered (a browser behind it keeps waiting);
 * with `tunnelTo`, every authenticated CONNECT, whatever its target, is tunnelled to that port on
 * 127.0.0.1 (an intercepting proxy, as far as the client can tell); with `recordPlain`, plain-HTTP
 * proxy requests (GET http://host/…, answered 405) are recorded too, their target as `host:port`.
 */
export async function httpProxy(
  user: string,
  pass: string,
  opts: { tunnelLoopback?: boolean; holdAuthenticated?: boolean; tunnelTo?: number; recordPlain?: boolean } = {},
): Promise<TestProxy> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    if (opts.recordPlain && /^https?:\/\//.test(req.url ?? '')) {
      const url = new URL(req.url ?? '');
      requests.push({ target: `${url.hostname}:${url.port || '80'}`, username: undefined, password: undefined, userAgent: req.headers['user-agent'] });
    }
    res.writeHead(405).end();
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
    const header = req.headers['proxy-authorization'] ?? '';
    const decoded = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const username = colon >= 0 ? decoded.slice(0, colon) : undefined;
    const password = colon >= 0 ? decoded.slice(colon + 1) : undefined;
    requests.push({ target: req.url ?? '', username, password, userAgent: req.headers['user-agent'] });
    socket.on('error', () => undefined);
    const loopbackPort = opts.tunnelTo !== undefined ? String(opts.tunnelTo) : /^127\.0\.0\.1:(\d+)$/.exec(req.url ?? '')?.[1];
    if (username !== user || password !== pass) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
    } else if ((opts.tunnelLoopback || opts.tunnelTo !== undefined) && loopbackPort !== undefined) {
      const target = net.connect(Number(loopbackPort), '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        target.pipe(socket).pipe(target);
      });
      target.on('error', () => socket.destroy());
      socket.on('close', () => target.destroy());
    } else if (opts.holdAuthenticated) {
      socket.resume();
    } else {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    }
  });
  const close = tracked(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, url: `http://127.0.0.1:${String(port)}`, requests, close };
}

/**
 * A SOCKS5 proxy (RFC 1928) with username/password authentication (RFC 1929) that records what it
 * is asked and, offline, answers every CONNECT with "host unreachable".
 */
export async function socks5Proxy(user: string, pass: string): Promise<TestProxy> {
  const requests: Recorded[] = [];
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'done' = 'greeting';
    let username: string | undefined;
    let password: string | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (stage === 'greeting') {
          if (buffer.length < 2 || buffer.length < 2 + (buffer[1] ?? 0)) return;
          const methods = [...buffer.subarray(2, 2 + (buffer[1] ?? 0))];
          buffer = buffer.subarray(2 + (buffer[1] ?? 0));
          if (!methods.includes(0x02)) {
            socket.end(Buffer.from([0x05, 0xff]));
            stage = 'done';
            return;
          }
          socket.write(Buffer.from([0x05, 0x02]));
          stage = 'auth';
        } else if (stage === 'auth') {
          const ulen = buffer[1];
          if (ulen === undefined || buffer.length < 3 + ulen) return;
          const plen = buffer[2 + ulen];
          if (plen === undefined || buffer.length < 3 + ulen + plen) return;
          username = buffer.subarray(2, 2 + ulen).toString('utf8');
          password = buffer.subarray(3 + ulen, 3 + ulen + plen).toString('utf8');
          buffer = buffer.subarray(3 + ulen + plen);
          if (username !== user || password !== pass) {
            requests.push({ target: '', username, password });
            socket.end(Buffer.from([0x01, 0x01]));
            stage = 'done';
            return;
          }
          socket.write(Buffer.from([0x01, 0x00]));
          stage = 'request';
        } else if (stage === 'request') {
          if (buffer.length < 5) return;
          const atyp = buffer[3];
          let host: string;
          let end: number;
          if (atyp === 0x01) {
            end = 4 + 4;
            if (buffer.length < end + 2) return;
            host = [...buffer.subarray(4, 8)].join('.');
          } else if (atyp === 0x03) {
            const len = buffer[4] ?? 0;
            end = 5 + len;
            if (buffer.length < end + 2) return;
            host = buffer.subarray(5, end).toString('utf8');
          } else {
            end = 4 + 16;
            if (buffer.length < end + 2) return;
            host = `[${buffer.subarray(4, 20).toString('hex')}]`;
          }
          const port = buffer.readUInt16BE(end);
          requests.push({ target: `${host}:${String(port)}`, username, password, addressType: atyp === 1 ? 'ipv4' : atyp === 3 ? 'domain' : 'ipv6' });
          // 0x04: host unreachable.
          socket.end(Buffer.from([0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
          stage = 'done';
          return;
        } else {
          return;
        }
      }
    });
  });
  const close = tracked(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { port, url: `socks5://127.0.0.1:${String(port)}`, requests, close };
}

/** A port on which nothing listens (bound, then closed). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type Silence =
  /** Accepts the connection and never says a word. */
  | 'silent'
  /** An HTTP proxy that opens any CONNECT tunnel (200), then never forwards a byte. */
  | 'http-tunnel-then-silent'
  /** A SOCKS5 proxy (no authentication) that grants any CONNECT, then never forwards a byte. */
  | 'socks5-tunnel-then-silent'
  /** A web server that sends its response headers, then never ends the body. */
  | 'headers-then-silent';

export interface SilentPeer {
  port: number;
  /** Connections accepted so far, closed or not. */
  accepted: number;
  /** Connections still open (from the server's side). */
  open(): Promise<number>;
  close(): Promise<void>;
}

/** A peer on 127.0.0.1 that stops answering at the chosen point, and counts what stays open. */
export async function silentPeer(behaviour: Silence): Promise<SilentPeer> {
  const server = net.createServer((socket) => {
    peer.accepted += 1;
    // Reading, so that the client closing its end is seen and the connection counted closed.
    socket.on('data', (chunk: Buffer) => {
      if (behaviour === 'http-tunnel-then-silent' && chunk.toString('latin1').startsWith('CONNECT ')) {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      } else if (behaviour === 'socks5-tunnel-then-silent' && chunk[0] === 0x05 && chunk.length === 2 + (chunk[1] ?? 0)) {
        socket.write(Buffer.from([0x05, 0x00]));
      } else if (behaviour === 'socks5-tunnel-then-silent' && chunk[0] === 0x05 && chunk[1] === 0x01) {
        socket.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0, 80]));
      } else if (behaviour === 'headers-then-silent' && /^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(chunk.toString('latin1'))) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\nfirst bytes');
      }
    });
  });
  const closeAll = tracked(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const peer: SilentPeer = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    open: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: closeAll,
  };
  return peer;
}

/** Waits, a bounded while, until nothing the peer accepted is still open; the count otherwise. */
export async function openAfterSettling(peer: SilentPeer, boundMs = 5000): Promise<number> {
  const end = Date.now() + boundMs;
  for (;;) {
    const open = await peer.open();
    if (open === 0 || Date.now() > end) return open;
    await new Promise((r) => setTimeout(r, 25));
  }
}
