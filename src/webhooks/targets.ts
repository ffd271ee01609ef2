import { createHash } from 'node:crypto';
import type { Envelope } from '../events/envelope.js';
import { DEFAULT_MAX_ATTEMPTS, type WebhookConfig } from './schema.js';

/** Where a webhook was configured: the server's flags, or the session's config. */
export type WebhookSource = 'server' | 'session';

/** One webhook, as the dispatcher uses it. */
export interface WebhookTarget {
  /** Stable while the webhook is configured: its deliveries of one session form one ordered queue. */
  key: string;
  source: WebhookSource;
  url: string;
  secret: string | undefined;
  headers: Readonly<Record<string, string>>;
  maxAttempts: number;
  /** null: every stored event. */
  events: ReadonlySet<string> | null;
}

/** The server-wide webhooks (`--webhook-url`, `--webhook-secret`, `--webhook-events`). */
export interface ServerWebhooks {
  urls: readonly string[];
  secret?: string | undefined;
  /** undefined: every stored event. */
  events?: readonly string[] | undefined;
}

/** A session's current `config.webhooks`; undefined when there is no such session (any more). */
export type SessionWebhooks = (sessionId: string) => readonly WebhookConfig[] | undefined;

// Deleted sessions whose webhooks are remembered: their session.deleted event (published after
// the session is gone) still reaches them. Bounded: one entry per session deleted lately.
const REMEMBERED_SESSIONS = 1_000;

/** The key of a target: sha256 of its source and URL, 16 hex characters. */
export function targetKey(source: WebhookSource, url: string): string {
  return createHash('sha256').update(`${source}\n${url}`).digest('hex').slice(0, 16);
}

function toTarget(source: WebhookSource, config: WebhookConfig): WebhookTarget {
  const events = config.events === undefined || config.events.includes('*') ? null : new Set<string>(config.events);
  return {
    key: targetKey(source, config.url),
    source,
    url: config.url,
    secret: config.secret,
    headers: { ...config.headers },
    maxAttempts: config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    events,
  };
}

/** Which webhooks get which event: the server-wide ones and the session's own. */
export class WebhookTargets {
  readonly #server: WebhookTarget[];
  readonly #sessionWebhooks: SessionWebhooks;
  // A session's config is replaced, never changed in place: its array is a cache key.
  readonly #built = new WeakMap<readonly WebhookConfig[], WebhookTarget[]>();
  readonly #remembered = new Map<string, WebhookTarget[]>();

  constructor(server: ServerWebhooks, sessionWebhooks: SessionWebhooks) {
    const events = server.events === undefined || server.events.includes('*') ? undefined : [...server.events];
    const seen = new Set<string>();
    this.#server = server.urls
      .filter((url) => !seen.has(url) && seen.add(url))
      .map((url) => toTarget('server', { url, secret: server.secret, events: events as WebhookConfig['events'] }));
    this.#sessionWebhooks = sessionWebhooks;
  }

  /** Every webhook of a session: the server-wide ones first, then the session's own. */
  forSession(session: string | null): WebhookTarget[] {
    if (session === null) return [...this.#server];
    return [...this.#server, ...this.#own(session)];
  }

  /** The webhooks that get this event. */
  forEvent(envelope: Pick<Envelope, 'event' | 'session'>): WebhookTarget[] {
    return this.forSession(envelope.session).filter((t) => t.events === null || t.events.has(envelope.event));
  }

  /** The target a delivery was made for, as configured now; undefined once it was removed. */
  find(key: string, session: string | null): WebhookTarget | undefined {
    return this.forSession(session).find((t) => t.key === key);
  }

  #own(session: string): WebhookTarget[] {
    const configs = this.#sessionWebhooks(session);
    if (configs === undefined) return this.#remembered.get(session) ?? [];
    let targets = this.#built.get(configs);
    if (!targets) {
      targets = configs.map((c) => toTarget('session', c));
      this.#built.set(configs, targets);
    }
    // Most recently seen last; the oldest is forgotten first.
    this.#remembered.delete(session);
    if (targets.length > 0) {
      this.#remembered.set(session, targets);
      if (this.#remembered.size > REMEMBERED_SESSIONS) {
        const oldest = this.#remembered.keys().next().value;
        if (oldest !== undefined) this.#remembered.delete(oldest);
      }
    }
    return targets;
  }
}
