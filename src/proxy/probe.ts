import https from 'node:https';
import http from 'node:http';
import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { describeProxy, resolvesLocally, upstreamUrl, type NormalizedProxy } from './parse.js';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  statusCode?: number;
  error?: string;
}

/** An agent that sends Node's own requests for a session through the same upstream as its browser. */
export function agentFor(p: NormalizedProxy): Agent {
  const url = upstreamUrl(p);
  return p.protocol.startsWith('socks') ? new SocksProxyAgent(url) : new HttpsProxyAgent(url);
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
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(text)) {
    return `no answer within ${String(Math.round(timeoutMs / 1000))} s from the proxy at ${where} or through it from ${target.host}`;
  }
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
 * a refusal is an answer, not an error.
 */
export function probeProxy(p: NormalizedProxy, target: URL, timeoutMs = 10_000): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const get = target.protocol === 'http:' ? http.get : https.get;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = get(target, { agent: agentFor(p), headers: { 'user-agent': 'wa-multi-session proxy test' } }, (res) => {
      res.resume();
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
      req.destroy();
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, latencyMs: elapsed(), error: explain(err, p, target, timeoutMs) }));
  });
}
