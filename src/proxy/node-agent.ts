import http from 'node:http';
import https from 'node:https';
import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { upstreamUrl, type NormalizedProxy } from './parse.js';

type ConnectOpts = Parameters<SocksProxyAgent['connect']>[1];

/** The part of an axios instance (0.x or 1.x) this sets. */
export interface AxiosLike {
  defaults: { httpAgent?: unknown; httpsAgent?: unknown; proxy?: unknown };
}

export interface NodeRoute {
  /** The agent now behind http.globalAgent and https.globalAgent. */
  readonly agent: http.Agent;
  /** Puts back what was there before (for a worker that runs on, and for tests). */
  uninstall(): void;
}

function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/**
 * Which connections go straight out: this machine's own loopback (it is not on the proxy's side)
 * and the upstream proxy itself. The second matters: the session's relay (proxy-chain) opens its
 * connections to an HTTP upstream with http.request and no agent of its own, that is through the
 * global agent, which must not send them through the upstream a second time.
 */
function goesDirect(upstream: NormalizedProxy, opts: ConnectOpts): boolean {
  const host = opts.host ?? 'localhost';
  return isLoopback(host) || (host === upstream.host && Number(opts.port) === upstream.port);
}

/** A connection as the default agent would make it. */
function directSocket(opts: ConnectOpts): net.Socket {
  // The request's options come along, its `path` among them: given to net.connect that would
  // mean a Unix socket.
  const { path: _requestPath, ...target } = opts as ConnectOpts & { path?: unknown };
  if (!opts.secureEndpoint) return net.connect(target as net.NetConnectOpts);
  const host = target.host ?? 'localhost';
  return tls.connect({ ...(target as tls.ConnectionOptions), servername: opts.servername ?? (isIP(host) ? undefined : host) });
}

class RoutedHttpProxyAgent extends HttpsProxyAgent<string> {
  readonly #upstream: NormalizedProxy;

  constructor(upstream: NormalizedProxy) {
    super(upstreamUrl(upstream));
    this.#upstream = upstream;
  }

  override async connect(req: http.ClientRequest, opts: ConnectOpts): Promise<net.Socket> {
    return goesDirect(this.#upstream, opts) ? directSocket(opts) : super.connect(req, opts);
  }
}

class RoutedSocksProxyAgent extends SocksProxyAgent {
  readonly #upstream: NormalizedProxy;

  constructor(upstream: NormalizedProxy) {
    super(upstreamUrl(upstream));
    this.#upstream = upstream;
  }

  override async connect(req: http.ClientRequest, opts: ConnectOpts): Promise<net.Socket> {
    return goesDirect(this.#upstream, opts) ? directSocket(opts) : super.connect(req, opts);
  }
}

/** An agent that sends every connection through the upstream (CONNECT or SOCKS), but loopback. */
export function upstreamAgent(upstream: NormalizedProxy, protocol: 'http:' | 'https:'): http.Agent {
  const agent = upstream.protocol.startsWith('socks') ? new RoutedSocksProxyAgent(upstream) : new RoutedHttpProxyAgent(upstream);
  // Said outright: agent-base otherwise guesses the scheme from the call stack.
  agent.protocol = protocol;
  return agent;
}

const refusedFetch: typeof fetch = () =>
  Promise.reject(new TypeError("fetch() is switched off in this session's worker: it would not go through the session's proxy"));

/**
 * Sends all of this process's HTTP(S) through the session's upstream proxy: node's global agents
 * (which http.request, axios and most libraries use when given no agent), the given axios
 * instances' defaults (an agent of their own, and no proxy from HTTP(S)_PROXY, which axios would
 * otherwise apply on top) and fetch(), whose built-in undici has no such hook, is refused rather
 * than let through. For a worker process, which runs one session.
 */
export function routeNodeTraffic(upstream: NormalizedProxy, axiosInstances: AxiosLike[] = []): NodeRoute {
  const httpAgent = upstreamAgent(upstream, 'http:');
  const httpsAgent = upstreamAgent(upstream, 'https:');
  const before = {
    http: http.globalAgent,
    https: https.globalAgent,
    fetch: globalThis.fetch,
    axios: axiosInstances.map((a) => ({ httpAgent: a.defaults.httpAgent, httpsAgent: a.defaults.httpsAgent, proxy: a.defaults.proxy })),
  };
  http.globalAgent = httpAgent;
  // An agent-base agent serves https requests too; node's typings only know https.Agent here.
  https.globalAgent = httpsAgent as https.Agent;
  globalThis.fetch = refusedFetch;
  for (const instance of axiosInstances) {
    instance.defaults.httpAgent = httpAgent;
    instance.defaults.httpsAgent = httpsAgent;
    instance.defaults.proxy = false;
  }
  return {
    agent: httpsAgent,
    uninstall() {
      http.globalAgent = before.http;
      https.globalAgent = before.https;
      globalThis.fetch = before.fetch;
      axiosInstances.forEach((instance, i) => Object.assign(instance.defaults, before.axios[i]));
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
