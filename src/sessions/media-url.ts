import dns, { type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parse as parseDisposition } from 'content-disposition';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { AppError } from '../errors.js';
import { bare, blockList, isBlockedAddress } from '../proxy/blocked-addresses.js';
import { upstreamAgent } from '../proxy/node-agent.js';
import type { NormalizedProxy } from '../proxy/parse.js';
import { explain } from '../proxy/probe.js';
import { MASK, maskCredentialsInUrl } from '../util/redact.js';

export interface FetchMediaOptions {
  url: string;
  /** Absolute path of the file to create ('wx', 0o600); it does not remain after a failure. */
  dest: string;
  /** The server's --max-body cap. */
  maxBytes: number;
  /** One deadline over the whole fetch: redirects, headers and body. */
  timeoutMs?: number;
  /** The session's upstream proxy: every request goes through it. */
  proxy?: NormalizedProxy;
  /** --allow-private-urls */
  allowPrivate?: boolean;
  maxRedirects?: number;
  /** The field path named in validation errors. */
  field?: string;
}

export interface FetchedMedia {
  file: string;
  size: number;
  contentType: string | undefined;
  /** The first bytes (up to 4096), to sniff the real type from. */
  head: Buffer;
  /** From Content-Disposition, else the final URL's last path segment; never holds / \ or NUL. */
  filename: string | undefined;
  finalUrl: string;
}

export const MEDIA_FETCH_TIMEOUT_MS = 30_000;
const HEAD_BYTES = 4096;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// No Accept-Encoding but identity: the bytes stored must be the file itself, not a gzip of it.
const HEADERS = { 'user-agent': 'wa-multi-session (media fetch)', accept: '*/*', 'accept-encoding': 'identity' };

type IsBlocked = (address: string) => boolean;

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', `${field}: ${message}`, [{ path: field, message }]);
}

/** A URL as messages show it: no query (it may hold a signature or token), never credentials. */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function refusal(field: string, host: string, address: string): AppError {
  const what = host === address ? address : `${host} (${address})`;
  return invalid(
    field,
    `${what} is not a public address (loopback, private, link-local, multicast or this machine's own); start the server with --allow-private-urls to allow such URLs`,
  );
}

function checkedUrl(text: string, field: string, from?: URL): URL {
  const by = from ? `${shown(from)} redirected to ` : '';
  let url: URL;
  try {
    url = from ? new URL(text, from) : new URL(text);
  } catch {
    throw invalid(field, from ? `${by}an invalid URL` : 'not a valid URL: write it as http(s)://host/path');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const only = 'only http and https URLs are fetched';
    throw invalid(field, from ? `${by}a URL with scheme ${url.protocol}; ${only}` : `${only}, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw invalid(field, from ? `${by}a URL with a user name or password in it, which is not followed` : 'a URL with a user name or password in it is not accepted');
  }
  return url;
}

/** Gives up on `promise` when `signal` aborts (dns.lookup itself cannot be aborted). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => signal.removeEventListener('abort', onAbort);
    void promise.then(
      (value) => (settle(), resolve(value)),
      (err: unknown) => (settle(), reject(err as Error)),
    );
  });
}

/**
 * A lookup that refuses a name if any of its addresses is blocked. The socket connects to what
 * this returns, so a name cannot resolve to something else between the check and the connect.
 */
function checkingLookup(isBlocked: IsBlocked, field: string): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, []);
      const bad = addresses.find((a) => isBlocked(a.address));
      if (bad) return callback(refusal(field, hostname, bad.address), []);
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

interface Fetch {
  opts: FetchMediaOptions;
  field: string;
  timeoutMs: number;
  isBlocked: IsBlocked | undefined;
  signal: AbortSignal;
  timeLeft(): number;
  url: URL;
  phase: 'connect' | 'file' | 'body';
  bytes: number;
  created: boolean;
}

/** Refuses a blocked IP literal; with a proxy (which connects, maybe resolving remotely) a name too. */
async function checkTarget(f: Fetch): Promise<void> {
  if (!f.isBlocked) return;
  const host = bare(f.url.hostname);
  if (isIP(host)) {
    if (f.isBlocked(host)) throw refusal(f.field, host, host);
    return;
  }
  if (!f.opts.proxy) return; // the socket's lookup checks it
  let addresses: LookupAddress[];
  try {
    addresses = await untilAborted(lookupAll(host, { all: true }), f.signal);
  } catch (err) {
    if (f.signal.aborted) throw err;
    return; // not known here: the proxy may know it
  }
  const bad = addresses.find((a) => f.isBlocked?.(a.address));
  if (bad) throw refusal(f.field, host, bad.address);
}

function agentFor(f: Fetch, lookup: LookupFunction | undefined): http.Agent {
  const protocol = f.url.protocol === 'https:' ? 'https:' : 'http:';
  if (!f.opts.proxy) {
    const options = { keepAlive: false, ...(lookup ? { lookup } : {}) };
    return protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  }
  const agent = upstreamAgent(f.opts.proxy, protocol);
  // The deadline must reach the socket to the proxy while it is still being negotiated, where
  // destroying the request cannot (the socket is not the request's yet); see proxy/probe.ts.
  if (agent instanceof HttpsProxyAgent) agent.connectOpts = { ...agent.connectOpts, signal: f.signal };
  else if (agent instanceof SocksProxyAgent) agent.timeout = Math.max(1, Math.ceil(f.timeLeft()));
  return agent;
}

function send(f: Fetch, agent: http.Agent, lookup: LookupFunction | undefined): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options: http.RequestOptions = { agent, signal: f.signal, headers: HEADERS, ...(lookup ? { lookup } : {}) };
    const req = (f.url.protocol === 'https:' ? https : http).request(f.url, options, resolve);
    // An HTTP proxy answers the CONNECT itself; its refusal must not pass for the target's answer.
    req.on('proxyConnect', (connect: { statusCode: number; statusText?: string }) => {
      if (connect.statusCode === 200) return;
      const why =
        connect.statusCode === 407
          ? 'the session proxy refused its credentials (407)'
          : `the session proxy could not open a connection to ${f.url.host} (it answered ${String(connect.statusCode)}${connect.statusText ? ` ${connect.statusText}` : ''})`;
      reject(new AppError('MEDIA_FETCH_FAILED', `could not fetch ${shown(f.url)}: ${why}`));
      req.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

function contentLength(header: string | undefined): number | undefined {
  return header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) : undefined;
}

function tooLarge(f: Fetch, size?: number): AppError {
  const what = size === undefined ? `sent more than` : `is ${String(size)} bytes, more than`;
  return new AppError('PAYLOAD_TOO_LARGE', `${shown(f.url)} ${what} the ${String(f.opts.maxBytes)} bytes the server accepts (--max-body)`);
}

/** A name to offer the recipient: the last path part, without control characters. */
function safeName(name: string | undefined): string | undefined {
  const last = name?.split(/[/\\]/).pop() ?? '';
  const clean = [...last].filter((c) => c.charCodeAt(0) >= 0x20 && c !== '\u007f').join('').trim();
  return clean === '' || clean === '.' || clean === '..' ? undefined : clean.slice(0, 255);
}

/** The URL path's last segment, percent-decoded (left as it is when it does not decode). */
function lastSegment(pathname: string): string {
  const last = pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Content-Disposition's filename (its RFC 8187 `filename*` first), as a name to offer the recipient. */
export function dispositionFilename(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const { parameters } = parseDisposition(header);
    return safeName(parameters.filename);
  } catch {
    // A header the parser refuses names no file.
    return undefined;
  }
}

async function save(f: Fetch, res: http.IncomingMessage): Promise<FetchedMedia> {
  const declared = contentLength(res.headers['content-length']);
  if (declared !== undefined && declared > f.opts.maxBytes) throw tooLarge(f, declared);
  if (declared === 0) throw invalid(f.field, `${shown(f.url)} answered with an empty body`);
  f.phase = 'file';
  const handle = await open(f.opts.dest, 'wx', 0o600);
  f.created = true;
  f.phase = 'body';
  // Flushed to disk before it closes: a queued send's file must survive a power loss as its job does.
  const out = handle.createWriteStream({ flush: true });
  const head: Buffer[] = [];
  let headLength = 0;
  try {
    await pipeline(
      res,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          f.bytes += chunk.length;
          if (f.bytes > f.opts.maxBytes) throw tooLarge(f);
          if (headLength < HEAD_BYTES) {
            const part = chunk.subarray(0, HEAD_BYTES - headLength);
            head.push(part);
            headLength += part.length;
          }
          yield chunk;
        }
      },
      out,
      { signal: f.signal },
    );
  } finally {
    // The file's descriptor is closed before anyone removes or reads the file.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
  }
  if (f.bytes === 0) throw invalid(f.field, `${shown(f.url)} answered with an empty body`);
  if (declared !== undefined && f.bytes !== declared) throw new Error('fewer bytes than its Content-Length');
  const type = res.headers['content-type']?.trim();
  return {
    file: f.opts.dest,
    size: f.bytes,
    contentType: type || undefined,
    head: Buffer.concat(head),
    filename: dispositionFilename(res.headers['content-disposition']) ?? safeName(lastSegment(f.url.pathname)),
    finalUrl: f.url.href,
  };
}

function scrub(text: string, proxy: NormalizedProxy | undefined): string {
  let out = text;
  for (const secret of [proxy?.password, proxy?.password && encodeURIComponent(proxy.password)]) {
    if (secret) out = out.split(secret).join(MASK);
  }
  return maskCredentialsInUrl(out);
}

const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** Why a request failed before its response came, in words a person can act on. */
function reason(f: Fetch, e: NodeJS.ErrnoException, text: string): string {
  if (TLS_ERROR.test(e.code ?? '') || /\b(TLS|SSL|certificate)\b/i.test(text)) return `the TLS connection to ${f.url.host} failed (${text})`;
  if (f.opts.proxy) return scrub(explain(e, f.opts.proxy, f.url, f.timeoutMs), f.opts.proxy);
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return `${f.url.hostname} could not be resolved (DNS)`;
  const port = f.url.port || (f.url.protocol === 'https:' ? '443' : '80');
  if (e.code === 'ECONNREFUSED') return `${f.url.hostname}:${port} refused the connection`;
  if (e.code === 'ECONNRESET') return `${f.url.host} closed the connection before answering`;
  return text;
}

/** What went wrong, as one sentence. */
function failure(f: Fetch, err: unknown): Error {
  if (err instanceof AppError) return err;
  const where = shown(f.url);
  if (f.signal.aborted) {
    const what = f.phase === 'body' ? `was still sending after ${String(f.bytes)} bytes` : 'had not answered';
    return new AppError('MEDIA_FETCH_FAILED', `could not fetch ${where}: it ${what} when the ${seconds(f.timeoutMs)} s deadline passed`);
  }
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return new AppError('INSUFFICIENT_STORAGE', `no room on disk for the media fetched from ${where}`);
  if (f.phase === 'file') return e; // the destination is the caller's to get right (EEXIST: a bug)
  const text = scrub(e.message || String(err), f.opts.proxy);
  const why = f.phase === 'body' ? `the response was cut short after ${String(f.bytes)} bytes (${text})` : reason(f, e, text);
  return new AppError('MEDIA_FETCH_FAILED', `could not fetch ${where}: ${why}`);
}

/** fetchMediaToFile with the address policy given (undefined: allow all); for tests. */
export async function fetchMediaWith(opts: FetchMediaOptions, isBlocked: IsBlocked | undefined): Promise<FetchedMedia> {
  const field = opts.field ?? 'body.url';
  const timeoutMs = opts.timeoutMs ?? MEDIA_FETCH_TIMEOUT_MS;
  const maxRedirects = opts.maxRedirects ?? 3;
  const url = checkedUrl(opts.url, field);
  const deadline = new AbortController();
  const started = performance.now();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const f: Fetch = {
    opts,
    field,
    timeoutMs,
    isBlocked,
    url,
    phase: 'connect',
    bytes: 0,
    created: false,
    signal: deadline.signal,
    timeLeft: () => started + timeoutMs - performance.now(),
  };
  const lookup = isBlocked ? checkingLookup(isBlocked, field) : undefined;
  const agents: http.Agent[] = [];
  let res: http.IncomingMessage | undefined;
  try {
    for (let redirects = 0; ; redirects += 1) {
      await checkTarget(f);
      const agent = agentFor(f, lookup);
      agents.push(agent);
      res = await send(f, agent, lookup);
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        res.destroy();
        if (redirects >= maxRedirects) throw invalid(field, `more than ${String(maxRedirects)} redirects (the last from ${shown(f.url)})`);
        const location = res.headers.location;
        if (!location) throw invalid(field, `${shown(f.url)} answered ${String(status)} with no Location to follow`);
        f.url = checkedUrl(location, field, f.url);
        continue;
      }
      if (status < 200 || status > 299) throw invalid(field, `${shown(f.url)} answered ${String(status)}`);
      return await save(f, res);
    }
  } catch (err) {
    if (f.created) await rm(opts.dest, { force: true }).catch(() => undefined);
    throw failure(f, err);
  } finally {
    clearTimeout(timer);
    res?.destroy();
    for (const agent of agents) agent.destroy();
  }
}

/**
 * Fetches a client-given URL into `dest`, through the session's proxy if it has one, within one
 * deadline and the --max-body cap, refusing this machine's and private networks' addresses unless
 * the server allows them. A failed fetch is an AppError and leaves no file behind (a `dest` that
 * already exists is the caller's bug: its EEXIST comes through as is, the file untouched).
 */
export async function fetchMediaToFile(opts: FetchMediaOptions): Promise<FetchedMedia> {
  if (opts.allowPrivate) return fetchMediaWith(opts, undefined);
  const list = blockList();
  return fetchMediaWith(opts, (address) => isBlockedAddress(address, list));
}
