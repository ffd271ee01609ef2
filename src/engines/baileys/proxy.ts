import type { EventEmitter } from 'node:events';
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AxiosRequestConfig } from 'axios';
import { describeProxy, normalizeProxy, type NormalizedProxy, type ProxyCredentials } from '../../proxy/parse.js';
import { routeNodeTraffic, type AxiosLike, type NodeRoute } from '../../proxy/node-agent.js';
import { explain } from '../../proxy/probe.js';

/** Where Baileys opens its WebSocket (Defaults/index.js waWebSocketUrl), for the words of a failure. */
export const WA_WEBSOCKET_URL = new URL('https://web.whatsapp.com/ws/chat');

/**
 * How a session's Baileys reaches WhatsApp. Baileys 6.7.21 takes three settings for it, each used
 * by other paths (checked in its lib/):
 * - `agent`: the WebSocket only (Socket/Client/websocket.js passes it to `new WebSocket`); ws
 *   otherwise connects directly, whatever Node's global agents are;
 * - `fetchAgent`: media uploads (Utils/messages-media.js getWAUploadToServer: axios.post with
 *   `httpsAgent: fetchAgent`);
 * - `options`: the axios config spread into media downloads (downloadContentFromMessage →
 *   getHttpStream), history and app-state blobs (Utils/history.js, chat-utils.js) and link preview
 *   thumbnails (Socket/messages-send.js fetchOpts).
 * A few of its requests take none of them (Utils/messages.js: a group invite's profile picture,
 * axios.get with no options): those go through Baileys' axios defaults and Node's global agents,
 * which routeNodeTraffic points at the proxy too, and fetch() is refused there (Baileys calls none;
 * its link previews need link-preview-js, which is not installed, so it makes none).
 */
export interface BaileysRoute {
  upstream: NormalizedProxy | undefined;
  /** For `agent` and `fetchAgent`, and for incoming.ts' media downloads: undefined without a proxy (direct). */
  agent: Agent | undefined;
  /** For Baileys' `options`. */
  axiosOptions: AxiosRequestConfig;
  /** Whether an HTTP proxy refused this request's CONNECT (its answer is then the proxy's, not WhatsApp's). */
  refusedByProxy(req: ClientRequest): boolean;
  /** Puts back what routeNodeTraffic changed; idempotent. */
  close(): void;
}

/**
 * Baileys' own axios: the ES module it imports (`import axios from 'axios'` in its lib/), found from
 * Baileys' folder so it is the copy Baileys loads. Its CommonJS build would be another instance
 * with defaults of its own.
 */
async function baileysAxios(): Promise<AxiosLike> {
  const fromBaileys = createRequire(createRequire(import.meta.url).resolve('@whiskeysockets/baileys'));
  const dir = path.dirname(fromBaileys.resolve('axios/package.json'));
  // axios' package.json exports "." → import: ./index.js.
  const mod = (await import(pathToFileURL(path.join(dir, 'index.js')).href)) as { default: AxiosLike };
  return mod.default;
}

/**
 * The session's way out: with a proxy, every path above goes through it (its credentials never
 * leave this process); without one, Baileys connects directly and nothing is changed.
 */
export async function routeBaileys(credentials: ProxyCredentials | undefined): Promise<BaileysRoute> {
  if (!credentials) return { upstream: undefined, agent: undefined, axiosOptions: {}, refusedByProxy: () => false, close: () => undefined };
  const upstream = normalizeProxy(credentials);
  const route: NodeRoute = routeNodeTraffic(upstream, [await baileysAxios()]);
  // https-proxy-agent tells the CONNECT's answer on the agent (index.js: emit('proxyConnect', connect, req)).
  const refused = new WeakSet<ClientRequest>();
  route.agent.on('proxyConnect', (connect: { statusCode?: number }, req: ClientRequest) => {
    if (connect.statusCode !== 200) refused.add(req);
  });
  let closed = false;
  return {
    upstream,
    agent: route.agent,
    // proxy: false, or axios would apply HTTP(S)_PROXY from the environment on top of the agent.
    axiosOptions: { httpsAgent: route.agent, proxy: false },
    refusedByProxy: (req) => refused.has(req),
    close: () => {
      if (closed) return;
      closed = true;
      route.uninstall();
    },
  };
}

/** The proxy as logs may show it (password masked), or null. */
export function proxyLabel(upstream: NormalizedProxy | undefined): string | null {
  return upstream ? describeProxy(upstream) : null;
}

/**
 * Why the WebSocket to web.whatsapp.com did not open, in words a person can act on: with a proxy,
 * what the proxy did (probe.ts explain: refused credentials, nothing listening, could not reach
 * the target...), the proxy named; without, the network's own error (getaddrinfo ENOTFOUND...).
 */
export function unreachable(cause: Error, upstream: NormalizedProxy | undefined, deadlineMs: number): string {
  const target = WA_WEBSOCKET_URL.hostname;
  if (!upstream) return `could not reach ${target}: ${cause.message}`;
  const why = cause instanceof Explained ? cause.message : explain(cause, upstream, WA_WEBSOCKET_URL, deadlineMs);
  return `could not reach ${target} through the proxy ${describeProxy(upstream)}: ${why}`;
}

/** A cause already said in words (by this engine): `unreachable` passes it on as it is. */
export class Explained extends Error {
  override readonly name = 'Explained';
}

/** An HTTP answer where the WebSocket's upgrade was expected: the proxy's refusal of the CONNECT, or the server's. */
export function unexpectedAnswer(statusCode: number, statusText: string, fromProxy: boolean): Explained {
  const answer = `${String(statusCode)}${statusText ? ` ${statusText}` : ''}`;
  if (fromProxy && statusCode === 407) return new Explained(`the proxy refused the credentials (${answer})`);
  if (fromProxy) return new Explained(`the proxy could not open a connection to ${WA_WEBSOCKET_URL.hostname}:443 (it answered ${answer})`);
  return new Explained(`${WA_WEBSOCKET_URL.hostname} answered ${answer} instead of opening the WebSocket`);
}

/**
 * Ends the connection with the reason when the WebSocket's upgrade gets an HTTP answer instead (an
 * HTTP proxy's 407 or 502, or a server's 4xx). Left alone, Baileys 6.7.21 would wait for ever: ws
 * aborts the handshake on such an answer only if nobody listens to 'unexpected-response' (ws 8
 * lib/websocket.js: `else if (!websocket.emit('unexpected-response', req, res))`), and Baileys'
 * client re-emits every ws event, that one included (Socket/Client/websocket.js:33-36), without
 * listening to it itself.
 */
export function failOnHttpAnswer(ws: EventEmitter, route: Pick<BaileysRoute, 'refusedByProxy'>, end: (err: Explained) => void): void {
  ws.once('unexpected-response', (req: ClientRequest, res: IncomingMessage) => {
    res.destroy();
    req.destroy();
    end(unexpectedAnswer(res.statusCode ?? 0, res.statusMessage ?? '', route.refusedByProxy(req)));
  });
}
