import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Server } from 'proxy-chain';
import { describeProxy, resolvesLocally, upstreamUrl, type NormalizedProxy } from './parse.js';

export interface Relay {
  /** http://127.0.0.1:<port>: what the browser is given as --proxy-server. No credentials. */
  url: string;
  close(): Promise<void>;
}

export type RelayLog = (level: 'debug' | 'info' | 'warn', message: string) => void;

/**
 * A local HTTP proxy on 127.0.0.1 that forwards everything the browser asks for (CONNECT tunnels,
 * so WebSockets too, and plain HTTP) to the session's upstream proxy with its credentials. Chromium
 * cannot authenticate to SOCKS proxies itself; with the relay it never needs to.
 */
export async function startRelay(upstream: NormalizedProxy, log: RelayLog): Promise<Relay> {
  const upstreamProxyUrl = upstreamUrl(upstream);
  const server = new Server({
    port: 0,
    host: '127.0.0.1',
    verbose: false,
    prepareRequestFunction: async ({ request, hostname, port, isHttp }) => {
      // socks5/socks4 resolve names here, as curl does; proxy-chain would send the name along
      // (socks5h/socks4a behaviour), so the tunnel's target is rewritten to the address first.
      // Plain HTTP goes through socks-proxy-agent, which already resolves by the same rule.
      if (!isHttp && resolvesLocally(upstream.protocol) && isIP(hostname) === 0) {
        const { address, family } = await lookup(hostname, { family: upstream.protocol === 'socks4' ? 4 : 0 });
        request.url = `${family === 6 ? `[${address}]` : address}:${String(port)}`;
        log('debug', `proxy: ${hostname} resolved here to ${address} (${upstream.protocol})`);
      }
      return { upstreamProxyUrl };
    },
  });
  server.on('requestFailed', ({ error, request }: { error: Error; request: { url?: string } }) => {
    log('warn', `proxy: ${request.url ?? 'a request'} failed through ${describeProxy(upstream)}: ${error.message}`);
  });
  await server.listen();
  log('info', `proxy relay 127.0.0.1:${String(server.port)} → ${describeProxy(upstream)}`);
  return {
    url: `http://127.0.0.1:${String(server.port)}`,
    close: () => server.close(true),
  };
}
