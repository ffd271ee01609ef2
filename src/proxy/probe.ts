import https from 'node:https';
import http from 'node:http';
import type { Agent } from 'node:http';
import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { describeProxy, resolvesLocally, upstreamUrl, type NormalizedProxy } from './parse.js';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  statusCode?: number;
  error?: string;
}

/** How long a probe may take in all: connect, proxy handshake, TLS and response headers. */
export const PROBE_TIMEOUT_MS = 10_000;

/** The one deadline of a probe, as the agents see it. */
interface Deadline {
  /** Aborted when the deadline passes. */
  signal: AbortSignal;
  timeLeft(): number;
}

type SocksConnectOptions = Parameters<SocksProxyAgent['connect']>[1];

/**
 * A SocksProxyAgent whose handshake ends at the probe's deadline. The socks client opens its own
 * socket and offers no handle on it while it negotiates; its timer is the only way to close it,
 * so the timer gets the time left once the target's name is resolved (socks5 and socks4 resolve
 * here, and that may take time of its own).
 */
class DeadlineSocksAgent extends SocksProxyAgent {
  readonly #deadline: Deadline;

  constructor(url: string, deadline: Deadline) {
    super(url);
    this.#deadline = deadline;
  }

  override async connect(req: http.ClientRequest, opts: SocksConnectOptions): Promise<Socket> {
    let target = opts;
    const host = opts.host ?? '';
    if (this.shouldLookup && isIP(host) === 0) {
      const { address } = await lookup(host, { family: this.proxy.type === 4 ? 4 : 0 });
      // The certificate is still checked against the name.
      target = opts.secureEndpoint ? { ...opts, host: address, servername: opts.servername ?? host } : { ...opts, host: address };
    }
    this.#deadline.signal.throwIfAborted();
    // socks reads 0 as "its default of 30 s".
    this.timeout = Math.max(1, Math.ceil(this.#deadline.timeLeft()));
    return super.connect(req, target);
  }
}

/** An agent that sends the probe through the upstream, giving up on the connection at the deadline. */
function agentFor(p: NormalizedProxy, deadline: Deadline): Agent {
  const url = upstreamUrl(p);
  if (p.protocol.startsWith('socks')) return new DeadlineSocksAgent(url, deadline);
  // The signal reaches the socket to the proxy while the agent still waits for the CONNECT
  // answer, where destroying the request cannot: the socket is not the request's yet.
  return new HttpsProxyAgent(new URL(url), { signal: deadline.signal });
}

/** Seconds as a person reads them: 10, 0.3. */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function noAnswer(p: NormalizedProxy, target: URL, timeoutMs: number): string {
  return `no answer within ${seconds(timeoutMs)} s from the proxy at ${p.host}:${String(p.port)} or through it from ${target.host}`;
}

/** What the upstream did, in words a person can act on. */
export function explain(err: NodeJS.ErrnoException, p: NormalizedProxy, target: URL, timeoutMs: number): string {
  const where = `${p.host}:${String(p.port)}`;
  const text = err.message || String(err);
  // The socks client drops the error's code but keeps it in the message.
  const code = err.code ?? /\b(E[A-Z]{4,})\b/.exec(text)?.[1];
  if (code === 'ECONNREFUSED' && text.includes(String(p.port))) {
    return `the proxy refused the connection: nothing accepts connections at ${where}`;
  }
  if (code === 'ENOTFOUND' && text.includes(target.hostname) && resolvesLocally(p.protocol)) {
    return `${target.hostname} could not be resolved on this machine (${p.protocol} resolves names here; ${p.protocol}${p.protocol === 'socks5' ? 'h' : 'a'} resolves them on the proxy)`;
  }
  if (code === 'ENOTFOUND' && text.includes(p.host)) return `the proxy host ${p.host} could not be found (DNS)`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `the proxy at ${where} is unreachable from this machine`;
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(text)) return noAnswer(p, target, timeoutMs);
  if (/authentication failed|auth.*(fail|reject)/i.test(text)) return `the proxy refused the credentials (${text})`;
  if (/HostUnreachable|NetworkUnreachable|ConnectionRefused|TTLExpired|ENOTFOUND|getaddrinfo/i.test(text)) {
    return `the proxy is reachable but could not reach ${target.host}: ${text}`;
  }
  if (code === 'ECONNRESET' || /socket hang up|closed/i.test(text)) {
    return `the proxy at ${where} closed the connection (${text}): is it a ${p.protocol} proxy?`;
  }
  return `${describeProxy(p)}: ${text}`;
}

/**
 * Opens a connection through the upstream to `target` and reports how it went. It never throws:
 * a refusal is an answer, not an error. One deadline covers the whole of it, and whatever the
 * outcome nothing it opened stays open.
 */
export function probeProxy(p: NormalizedProxy, target: URL, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const expired = new AbortController();
  const agent = agentFor(p, { signal: expired.signal, timeLeft: () => started + timeoutMs - performance.now() });
  const get = target.protocol === 'http:' ? http.get : https.get;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Only the status line was wanted: the connection goes, whichever way it went.
      req.destroy();
      agent.destroy();
      resolve(result);
    };
    const req = get(target, { agent, headers: { 'user-agent': 'wa-multi-session proxy test' } }, (res) => {
      finish({ ok: true, latencyMs: elapsed(), statusCode: res.statusCode ?? 0 });
    });
    // An HTTP proxy answers the CONNECT itself: anything but 200 is the proxy's refusal.
    req.on('proxyConnect', (connect: { statusCode: number; statusText?: string }) => {
      if (connect.statusCode === 200) return;
      const error =
        connect.statusCode === 407
          ? 'the proxy refused the credentials (407 Proxy Authentication Required)'
          : `the proxy could not open a connection to ${target.host} (it answered ${String(connect.statusCode)}${connect.statusText ? ` ${connect.statusText}` : ''})`;
      finish({ ok: false, latencyMs: elapsed(), statusCode: connect.statusCode, error });
    });
    // Errors after the answer (the sockets being closed here) change nothing.
    req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, latencyMs: elapsed(), error: explain(err, p, target, timeoutMs) }));
    const timer = setTimeout(() => {
      finish({ ok: false, latencyMs: elapsed(), error: noAnswer(p, target, timeoutMs) });
      // After req.destroy(), which ends a socket the request already has (TLS or response
      // headers pending): this ends the one an HTTP proxy agent still holds.
      expired.abort();
    }, timeoutMs);
  });
}
