import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Server } from 'proxy-chain';
import { describeProxy, resolvesLocally, upstreamUrl, type NormalizedProxy } from './parse.js';

/** The login the relay demands. Held by the session's browser only: never log it. */
export interface RelayLogin {
  username: string;
  password: string;
}

export interface Relay {
  /** http://127.0.0.1:<port>: what the browser is given as --proxy-server. No credentials. */
  url: string;
  login: RelayLogin;
  close(): Promise<void>;
}

export type RelayLog = (level: 'debug' | 'info' | 'warn', message: string) => void;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Whether a request carried the login, compared in constant time. */
function matches(login: RelayLogin, username: string, password: string): boolean {
  return timingSafeEqual(digest(`${username}\n${password}`), digest(`${login.username}\n${login.password}`));
}

/**
 * A local HTTP proxy on 127.0.0.1 that forwards everything the browser asks for (CONNECT tunnels,
 * so WebSockets too, and plain HTTP) to the session's upstream proxy with its credentials. Chromium
 * cannot authenticate to SOCKS proxies itself; with the relay it never needs to.
 *
 * Any process on this machine can reach 127.0.0.1, so the relay answers only whoever holds its
 * random login (the session's browser, through puppeteer's page.authenticate): anyone else gets a
 * 407 and never the upstream, nor its credentials.
 */
export async function startRelay(upstream: NormalizedProxy, log: RelayLog): Promise<Relay> {
  const upstreamProxyUrl = upstreamUrl(upstream);
  const login: RelayLogin = { username: randomBytes(12).toString('hex'), password: randomBytes(24).toString('hex') };
  const server = new Server({
    port: 0,
    host: '127.0.0.1',
    verbose: false,
    authRealm: 'wa-multi-session relay',
    prepareRequestFunction: async ({ request, hostname, port, isHttp, username, password }) => {
      if (!matches(login, username, password)) {
        // No credentials is how Chromium asks first; wrong ones are someone else trying.
        if (username || password) log('warn', 'proxy relay: refused a request with a wrong login');
        return { requestAuthentication: true, failMsg: "this relay serves one session's browser only" };
      }
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
  log('debug', `proxy relay 127.0.0.1:${String(server.port)} → ${describeProxy(upstream)}`);
  return {
    url: `http://127.0.0.1:${String(server.port)}`,
    login,
    close: () => server.close(true),
  };
}
