import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Agent, Dispatcher } from 'undici';
import { AppError, describeError } from '../errors.js';
import { HOP_BY_HOP_HEADERS } from '../util/hop-headers.js';

/*
 * Cluster mode: one-hop forwarding of an API call to the node that runs its session.
 *
 * Used by http/routes/cluster.ts: forwardToOwner, mounted before the JSON parser so a body streams
 * to the owner untouched, and placeCreates, after it (the parsed body is sent again as JSON).
 * The owner applies its own authentication and limits again: the client's credentials go along.
 * Its rate limiter sees the forwarding node's address unless --trust-proxy trusts the cluster's
 * addresses (X-Forwarded-For is appended here).
 */

/** Set on a request one node passes to another (its value: the node that passed it on); never forwarded again. */
export const HOP_HEADER = 'x-cluster-hop';
/** Set on every answer: the node that served it (a forwarded answer keeps the owner's). */
export const SERVED_BY_HEADER = 'x-served-by';

/** Where a request goes: a node of the cluster. */
export interface ForwardTarget {
  id: string;
  /** Its --node-url: the origin (and optional path prefix) the request's path is appended to. */
  url: string;
}

/** The pieces of Express's request and response the forwarder uses (plain node:http objects work). */
export type ForwardRequest = IncomingMessage & { originalUrl?: string; body?: unknown };
export type ForwardResponse = ServerResponse;

export interface ForwarderOptions {
  /** This node's id: sent in HOP_HEADER. */
  nodeId: string;
  /** Connecting to the other node (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * Until the other node's status line and headers (default 200 s: some calls answer only once
   * their work is done — a create with waitForQR up to 180 s, a send waiting in the queue 120 s —
   * and the owner itself ends any request at 180 s). The body has no deadline:
   * an event stream stays open for hours, and the client ending it ends the upstream.
   */
  headersTimeoutMs?: number;
  /** For tests: a dispatcher of one's own (default: an undici Agent made on first use). */
  dispatcher?: Dispatcher;
}

export interface Forwarder {
  /** Passes `req` on to `node` and streams its answer back into `res`. Rejects (AppError) only before anything was written. */
  forward(req: ForwardRequest, res: ForwardResponse, node: ForwardTarget): Promise<void>;
  /** Ends every forwarded request still open and closes the connections. */
  close(): Promise<void>;
}

/**
 * Hop-by-hop headers (RFC 9110 7.6.1), never passed on, in either direction; plus `host` (the
 * owner's own) and the framing headers, which the new hop sets from the body it actually sends.
 */
const HOP_BY_HOP = new Set([...HOP_BY_HOP_HEADERS, 'host']);

/** Whether a request was passed on by another node (it is then served here, never passed on again). */
export function isForwarded(req: Pick<IncomingMessage, 'headers'>): boolean {
  return req.headers[HOP_HEADER] !== undefined;
}

/** Sets X-Served-By on every answer; mounted first, so error answers carry it too. A forwarded answer overwrites it with the owner's. */
export function servedBy(nodeId: string): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (_req, res, next) => {
    res.setHeader(SERVED_BY_HEADER, nodeId);
    next();
  };
}

/** The headers of `headers` that may cross a hop: hop-by-hop ones and those the Connection header names are dropped. */
export function endToEndHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = new Set<string>();
  const connection = headers.connection;
  for (const value of Array.isArray(connection) ? connection : connection ? [connection] : []) {
    for (const token of value.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

/**
 * Whether a body parser already read the request: its stream is spent and req.body holds what was
 * parsed (body-parser 2 leaves req.body undefined when it parses nothing).
 */
function bodyWasParsed(req: ForwardRequest): boolean {
  return req.body !== undefined && (req.complete || req.readableEnded);
}

export function createForwarder(opts: ForwarderOptions): Forwarder {
  const connectTimeout = opts.connectTimeoutMs ?? 5_000;
  const headersTimeout = opts.headersTimeoutMs ?? 200_000;
  // undici is loaded with the first forwarded request: a node alone never needs it.
  let agent: Promise<{ dispatcher: Dispatcher; own?: Agent; request: typeof import('undici').request }> | undefined;
  const open = new Set<AbortController>();
  let closed = false;

  function client(): NonNullable<typeof agent> {
    agent ??= import('undici').then(({ Agent, request }) => {
      if (opts.dispatcher) return { dispatcher: opts.dispatcher, request };
      const own = new Agent({ connect: { timeout: connectTimeout }, headersTimeout, bodyTimeout: 0, keepAliveTimeout: 30_000 });
      return { dispatcher: own, own, request };
    });
    return agent;
  }

  async function forward(req: ForwardRequest, res: ForwardResponse, node: ForwardTarget): Promise<void> {
    if (closed) throw new AppError('SHUTTING_DOWN', 'this node is shutting down: try again');
    const path = req.originalUrl ?? req.url ?? '/';
    const base = node.url.endsWith('/') ? node.url.slice(0, -1) : node.url;
    const target = `${base}${path.startsWith('/') ? path : `/${path}`}`;

    const headers = endToEndHeaders(req.headers);
    headers[HOP_HEADER] = opts.nodeId;
    const client_ = req.socket.remoteAddress;
    if (client_) headers['x-forwarded-for'] = [headers['x-forwarded-for'], client_].flat().filter(Boolean).join(', ');
    if (typeof req.headers.host === 'string') headers['x-forwarded-host'] ??= req.headers.host;
    headers['x-forwarded-proto'] ??= (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';

    const method = (req.method ?? 'GET').toUpperCase();
    let body: Buffer | IncomingMessage | null = null;
    if (bodyWasParsed(req)) {
      // Read by the JSON parser already: what it parsed is sent again, framed anew.
      delete headers['content-length'];
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(req.body ?? null));
    } else if (method !== 'GET' && method !== 'HEAD' && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)) {
      body = req;
    }

    const controller = new AbortController();
    open.add(controller);
    // The client went away: the owner's work (an event stream, a long upload) ends with it.
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    try {
      const { dispatcher, request } = await client();
      let answer: Awaited<ReturnType<typeof request>>;
      try {
        answer = await request(target, { dispatcher, method, headers, body, signal: controller.signal });
      } catch (err) {
        if (controller.signal.aborted) return;
        throw new AppError('NODE_UNAVAILABLE', `node ${node.id} (${node.url}), which runs this, did not answer: ${reason(err)}; try again`);
      }
      // The body errors when the request is aborted (the client left): every error of it is
      // handled here or by the pipeline below, never left to end the process.
      answer.body.on('error', () => undefined);
      if (controller.signal.aborted || res.destroyed) {
        answer.body.destroy();
        return;
      }
      res.statusCode = answer.statusCode;
      for (const [name, value] of Object.entries(endToEndHeaders(answer.headers))) res.setHeader(name, value);
      // Headers now: an event stream's client sees its answer before the first event.
      res.flushHeaders();
      try {
        // Chunk by chunk as they come: an event stream is passed through, not buffered.
        await pipeline(answer.body, res);
      } catch {
        // One side ended early (the client left, or the owner went away): the other is ended with it.
        if (!res.destroyed) res.destroy();
      }
    } finally {
      res.off('close', onClose);
      open.delete(controller);
    }
  }

  return {
    forward,
    async close() {
      closed = true;
      for (const controller of open) controller.abort();
      const made = await agent?.catch(() => undefined);
      // destroy, not close: what is still open was aborted above, nothing is left to finish.
      await made?.own?.destroy().catch(() => undefined);
    },
  };
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: unknown }).cause;
  const detail = cause instanceof Error ? ` (${cause.message})` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${describeError(err)}${detail}`;
}
