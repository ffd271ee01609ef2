import type { Agent, request as undiciRequest } from 'undici';
import { describeError } from '../errors.js';
import { maskSecrets } from '../util/redact.js';
import { signatureHeaders } from './signing.js';
import type { WebhookTarget } from './targets.js';

/** What one attempt came to. */
export interface SendResult {
  /** delivered: 2xx. retry: 408, 429, 5xx, a timeout or a connection error. failed: any other status. aborted: the server is stopping. */
  outcome: 'delivered' | 'retry' | 'failed' | 'aborted';
  statusCode: number | null;
  /** null when delivered. */
  error: string | null;
}

export interface SenderOptions {
  /** The whole attempt: connect, headers and body (default 10 s). */
  timeoutMs?: number;
  userAgent: string;
  /** Most bytes of an answer read (the rest is dropped with the connection); default 64 KiB. */
  maxResponseBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const ABORTED: SendResult = { outcome: 'aborted', statusCode: null, error: 'the server is stopping' };
const DEFAULT_MAX_RESPONSE = 64 * 1024;
// The start of an error answer kept for lastError: enough to read, never a receiver's whole page.
const ERROR_SNIPPET = 200;

/** Retried: the receiver may take it later. Any other non-2xx status says it never will. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POSTs envelopes to receivers through one undici Agent: connections are reused per origin, every
 * attempt has one deadline, redirects are never followed (a 3xx fails the delivery: a webhook's
 * URL is where the receiver said it listens), and an answer is read only up to a bound.
 */
export class WebhookSender {
  /** undici (110 files) is loaded with the first delivery, not at start-up: most servers never send one. */
  #client: Promise<{ agent: Agent; request: typeof undiciRequest }> | undefined;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #maxResponse: number;
  readonly #inFlight = new Set<AbortController>();
  #closing = false;

  constructor(opts: SenderOptions) {
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = opts.userAgent;
    this.#maxResponse = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  }

  #undici(): Promise<{ agent: Agent; request: typeof undiciRequest }> {
    this.#client ??= import('undici').then(({ Agent, request }) => ({
      agent: new Agent({
        connect: { timeout: this.#timeoutMs },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        // Receivers that cannot parse an answer cut short are common; one request per connection at a time.
        pipelining: 1,
      }),
      request,
    }));
    return this.#client;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /**
   * One attempt. Never throws: every failure is a result. Its own AbortController, not
   * AbortSignal.any() with a long-lived signal: on Node 20 every any() call leaves memory behind
   * on the long-lived one (thousands of attempts a second, for days).
   */
  async send(target: Pick<WebhookTarget, 'url' | 'secret' | 'headers'>, msgId: string, body: string): Promise<SendResult> {
    if (this.#closing) return ABORTED;
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      return { outcome: 'failed', statusCode: null, error: 'the webhook URL is not valid' };
    }
    const headers = this.#headers(target, url, msgId, body);
    url.username = '';
    url.password = '';
    // undici is loaded with the first delivery, before its deadline starts: the receiver's time is its own.
    let client: { agent: Agent; request: typeof undiciRequest };
    try {
      client = await this.#undici();
    } catch (err) {
      return { outcome: 'retry', statusCode: null, error: `could not load the HTTP client: ${describeError(err)}` };
    }
    if (this.#closing) return ABORTED;
    const { agent, request } = client;
    const controller = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    this.#inFlight.add(controller);
    try {
      const res = await request(url, { dispatcher: agent, method: 'POST', headers, body, signal: controller.signal });
      const snippet = await this.#drain(res.body, controller.signal);
      const status = res.statusCode;
      if (status >= 200 && status < 300) return { outcome: 'delivered', statusCode: status, error: null };
      const reason = `the receiver answered ${String(status)}${snippet ? `: ${snippet}` : ''}`;
      return { outcome: isRetryableStatus(status) ? 'retry' : 'failed', statusCode: status, error: reason };
    } catch (err) {
      if (this.#closing && !timedOut) return ABORTED;
      return { outcome: 'retry', statusCode: null, error: this.#describe(err, timedOut) };
    } finally {
      clearTimeout(deadline);
      this.#inFlight.delete(controller);
    }
  }

  /** Ends every attempt on the wire (they come back `aborted`) and refuses new ones. */
  abortAll(): void {
    this.#closing = true;
    for (const controller of this.#inFlight) controller.abort();
  }

  /** Aborts what is on the wire and closes every connection. */
  async close(): Promise<void> {
    this.abortAll();
    const client = await this.#client;
    await client?.agent.destroy().catch(() => undefined);
  }

  #headers(target: Pick<WebhookTarget, 'secret' | 'headers'>, url: URL, msgId: string, body: string): Record<string, string> {
    const headers: Record<string, string> = { ...target.headers };
    const has = (name: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (!has('user-agent')) headers['user-agent'] = this.#userAgent;
    // A URL's user:password@ is sent as Basic authentication (undici refuses credentials in a URL).
    if ((url.username || url.password) && !has('authorization')) {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    }
    return { ...headers, 'content-type': 'application/json', ...signatureHeaders(target.secret, msgId, body) };
  }

  /**
   * Reads the answer up to the bound, so the connection can be reused; a bigger one is cut off
   * (its connection closed). Returns the start of it, printable, for an error message. A body that
   * fails midway does not change the outcome: the status line already said it.
   */
  async #drain(body: AsyncIterable<Buffer> & { destroy(): void }, signal: AbortSignal): Promise<string> {
    let size = 0;
    let head = '';
    try {
      for await (const chunk of body) {
        if (head.length < ERROR_SNIPPET) head += chunk.subarray(0, ERROR_SNIPPET).toString('utf8');
        size += chunk.length;
        if (size > this.#maxResponse || signal.aborted) {
          body.destroy();
          break;
        }
      }
    } catch {
      // A body cut short or timed out: what came is enough.
    }
    return clean(head);
  }

  #describe(err: unknown, timedOut: boolean): string {
    const code = (err as { code?: unknown }).code;
    if (timedOut || (typeof code === 'string' && /TIMEOUT/.test(code))) {
      return `no answer within ${String(this.#timeoutMs / 1000)} s`;
    }
    const message = describeError(err);
    const cause = (err as { cause?: unknown }).cause;
    const detail = cause instanceof Error && cause.message !== message ? `: ${cause.message}` : '';
    return clean(`${typeof code === 'string' ? `${code} ` : ''}${message}${detail}`);
  }
}

/** One printable line, short, with any registered secret masked. */
function clean(text: string): string {
  const line = text.replace(/[^\x20-\x7E]+/g, ' ').replace(/\s+/g, ' ').trim();
  return maskSecrets(line.length > ERROR_SNIPPET ? `${line.slice(0, ERROR_SNIPPET - 1)}…` : line);
}
