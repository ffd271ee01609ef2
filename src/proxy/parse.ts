import { isIP } from 'node:net';
import { AppError } from '../errors.js';
import { MASK } from '../util/redact.js';

export const PROXY_PROTOCOLS = ['http', 'https', 'socks4', 'socks4a', 'socks5', 'socks5h'] as const;
export type ProxyProtocol = (typeof PROXY_PROTOCOLS)[number];

/** What a session's `proxyServerCredentials` may hold (validated by the session config schema). */
export interface ProxyCredentials {
  protocol?: ProxyProtocol | undefined;
  address: string;
  username?: string | undefined;
  password?: string | undefined;
}

/** One upstream proxy, whichever way it was written. */
export interface NormalizedProxy {
  protocol: ProxyProtocol;
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
}

const DEFAULT_PORT: Record<ProxyProtocol, number> = {
  http: 80,
  https: 443,
  socks4: 1080,
  socks4a: 1080,
  socks5: 1080,
  socks5h: 1080,
};

const SCHEMES: Record<string, ProxyProtocol> = {
  http: 'http',
  https: 'https',
  socks: 'socks5',
  socks4: 'socks4',
  socks4a: 'socks4a',
  socks5: 'socks5',
  socks5h: 'socks5h',
};

const HOST = /^[A-Za-z0-9.-]+$/;

function invalid(message: string): AppError {
  return new AppError('VALIDATION_ERROR', `proxy: ${message}`, [{ path: 'body.config.proxyServerCredentials', message }]);
}

function parsePort(text: string | undefined, protocol: ProxyProtocol): number {
  if (text === undefined || text === '') return DEFAULT_PORT[protocol];
  if (!/^\d+$/.test(text)) throw invalid(`the port must be a number from 1 to 65535, got "${text}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw invalid(`the port must be from 1 to 65535, got ${text}`);
  return port;
}

function checkHost(host: string): string {
  if (!host) throw invalid('the address has no host: write host:port or a URL such as socks5://host:1080');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) === 6) return bare;
  if (!HOST.test(bare) || bare.startsWith('.') || bare.endsWith('-')) throw invalid(`"${host}" is not a valid host name`);
  return bare;
}

function merge(field: 'username' | 'password', fromUrl: string | undefined, given: string | undefined): string | undefined {
  if (fromUrl !== undefined && given !== undefined && fromUrl !== given) {
    throw invalid(`the ${field} is given twice, in the address URL and as "${field}", and they differ: give it once`);
  }
  return given ?? fromUrl;
}

/**
 * The one place proxy settings are read: `{protocol?, address, username?, password?}` where the
 * address is `host:port` or a URL whose scheme and credentials fill in what is missing.
 */
export function normalizeProxy(creds: ProxyCredentials): NormalizedProxy {
  const address = creds.address.trim();
  if (!address) throw invalid('the address is empty');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(address)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const fromScheme = SCHEMES[scheme];
    if (!fromScheme) {
      throw invalid(`unknown scheme "${scheme}://": use http, https, socks4, socks4a, socks5 or socks5h`);
    }
    if (creds.protocol && creds.protocol !== fromScheme) {
      throw invalid(`protocol "${creds.protocol}" contradicts the address's scheme "${scheme}://": give one of them`);
    }
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw invalid(`"${address.replace(/\/\/[^@/]*@/, '//…@')}" is not a valid proxy URL`);
    }
    if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
      throw invalid('a proxy URL has no path or query: write scheme://user:pass@host:port');
    }
    const userInUrl = url.username ? decodeURIComponent(url.username) : undefined;
    const passInUrl = url.password ? decodeURIComponent(url.password) : undefined;
    // URL drops a port equal to the scheme's default (http:80): read it back from the text.
    const explicitPort = /:(\d+)\/?$/.exec(address)?.[1] ?? url.port;
    return {
      protocol: fromScheme,
      host: checkHost(url.hostname),
      port: parsePort(explicitPort, fromScheme),
      username: merge('username', userInUrl, creds.username),
      password: merge('password', passInUrl, creds.password),
    };
  }
  if (address.includes('@') || address.includes('/')) {
    throw invalid('put credentials in "username" and "password", or write the address as a URL (socks5://user:pass@host:1080)');
  }
  const protocol = creds.protocol ?? 'http';
  const match = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(address);
  return {
    protocol,
    host: checkHost(match?.[1] ?? ''),
    port: parsePort(match?.[2], protocol),
    username: creds.username,
    password: creds.password,
  };
}

function hostPart(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** scheme://user:pass@host:port, credentials URL-encoded. Holds the secret: never log it. */
export function upstreamUrl(p: NormalizedProxy): string {
  const auth =
    p.username !== undefined || p.password !== undefined
      ? `${encodeURIComponent(p.username ?? '')}${p.password !== undefined ? `:${encodeURIComponent(p.password)}` : ''}@`
      : '';
  return `${p.protocol}://${auth}${hostPart(p.host)}:${String(p.port)}`;
}

/** The same, with the password masked: for logs and messages. */
export function describeProxy(p: NormalizedProxy): string {
  const auth = p.username !== undefined ? `${p.username}${p.password !== undefined ? `:${MASK}` : ''}@` : '';
  return `${p.protocol}://${auth}${hostPart(p.host)}:${String(p.port)}`;
}

/** socks5 and socks4 resolve names on this machine; socks5h, socks4a and HTTP proxies on the proxy. */
export function resolvesLocally(protocol: ProxyProtocol): boolean {
  return protocol === 'socks5' || protocol === 'socks4';
}
