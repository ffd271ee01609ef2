import { Counter, Gauge, Registry } from 'prom-client';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventBus } from '../events/bus.js';
import type { WebhookDispatcher, AttemptReport } from '../webhooks/dispatcher.js';
import { processRegistry } from './process-metrics.js';
import type { ResourceSample } from './resources.js';
import { SessionSeries, type SessionSource } from './session-series.js';
import { CachedFigures, type StoreFigures } from './store-figures.js';
import type { SendObserver } from './timed-sends.js';

/** What the series are read from, handed over once the server's parts exist. */
export interface MetricsSources {
  sessions: SessionSource;
  webhooks?: Pick<WebhookDispatcher, 'on' | 'stats'>;
  bus?: Pick<EventBus, 'pending' | 'health'>;
  /** The database's figures (see store-figures.ts); read at most once every `storeTtlMs`. */
  store?: () => Promise<StoreFigures>;
}

export interface MetricsOptions {
  logger?: Logger;
  /** How long the database's figures are reused (5 s). */
  storeTtlMs?: number;
  /** The server process's own metrics (wa_server_*); on unless a test turns them off. */
  processMetrics?: boolean;
  now?: () => number;
}

const RESULT: Record<AttemptReport['outcome'], string> = { delivered: 'delivered', retry: 'retried', failed: 'failed' };

/**
 * The prom-client registry behind GET /metrics: every series is `wa_*`, with HELP, and labels from
 * small fixed sets besides `session`. Made before the sessions (their workers' sends are timed
 * from the start), then attached to the server's parts.
 */
export class ServerMetrics implements SendObserver {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  readonly #registry = new Registry();
  readonly #sessions: SessionSeries;
  readonly #deliveries: Counter<'result'>;
  readonly #storeErrors: Counter;
  readonly #log: Logger | undefined;
  readonly #processMetrics: boolean;
  readonly #storeTtlMs: number;
  readonly #now: () => number;
  #sources: MetricsSources | undefined;
  #figures: CachedFigures | undefined;
  /** The last figures read: kept when a read fails (stale rather than a false 0). */
  #lastFigures: StoreFigures | undefined;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.#registry];
    const now = opts.now ?? Date.now;
    this.#log = opts.logger;
    this.#processMetrics = opts.processMetrics ?? true;
    this.#storeTtlMs = opts.storeTtlMs ?? 5_000;
    this.#now = now;
    this.#sessions = new SessionSeries(this.#registry);
    this.#deliveries = new Counter({
      name: 'wa_webhook_deliveries_total',
      help: 'Webhook delivery attempts by result: delivered (2xx), retried (failed, tried again later), failed (given up)',
      labelNames: ['result'],
      registers,
    });
    for (const result of Object.values(RESULT)) this.#deliveries.inc({ result }, 0);
    this.#storeErrors = new Counter({
      name: 'wa_metrics_store_errors_total',
      help: 'Scrapes that could not read the database figures (pending deliveries, event log): those keep their last value',
      registers,
    });
    // Read by scrape() just before the registry is written out.
    const figures = (): StoreFigures | undefined => this.#lastFigures;
    const sources = (): MetricsSources | undefined => this.#sources;
    new Gauge({
      name: 'wa_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting to be made (read from the database at most every few seconds)',
      registers,
      collect() {
        const f = figures();
        if (f) this.set(f.pendingDeliveries);
      },
    });
    new Gauge({
      name: 'wa_webhook_oldest_pending_age_seconds',
      help: 'Age of the oldest pending webhook delivery (0 when none is pending)',
      registers,
      collect() {
        const f = figures();
        if (f) this.set(f.oldestPendingAt === null ? 0 : Math.max(0, (now() - Date.parse(f.oldestPendingAt)) / 1000));
      },
    });
    new Gauge({
      name: 'wa_event_log_rows',
      help: 'Events in the event log (read from the database at most every few seconds)',
      registers,
      collect() {
        const f = figures();
        if (f) this.set(f.eventLogRows);
      },
    });
    new Gauge({
      name: 'wa_webhook_requests_in_flight',
      help: 'Webhook requests on the wire now',
      registers,
      collect() {
        this.set(sources()?.webhooks?.stats().inFlight ?? 0);
      },
    });
    new Gauge({
      name: 'wa_event_bus_pending',
      help: 'Events accepted but not yet stored and handed out (grows when the database is slow)',
      registers,
      collect() {
        this.set(sources()?.bus?.pending ?? 0);
      },
    });
    new Gauge({
      name: 'wa_event_log_writable',
      help: 'Whether the database takes events (0 while it cannot be written: they wait in memory, see /health)',
      registers,
      collect() {
        this.set(sources()?.bus?.health().ok === false ? 0 : 1);
      },
    });
  }

  /** Follows the server's parts from now on; returns how to stop. */
  attach(sources: MetricsSources): () => void {
    this.#sources = sources;
    this.#figures = sources.store ? new CachedFigures(sources.store, this.#storeTtlMs, this.#now) : undefined;
    const offs = [this.#sessions.attach(sources.sessions)];
    if (sources.webhooks) offs.push(sources.webhooks.on('attempt', (report) => this.#deliveries.inc({ result: RESULT[report.outcome] })));
    return () => {
      for (const off of offs) off();
      this.#sources = undefined;
      this.#figures = undefined;
    };
  }

  /** A send's latency and outcome (timedSends calls this for every send a worker was asked for). */
  observeSend(sessionId: string, seconds: number, error: unknown): void {
    this.#sessions.observeSend(sessionId, seconds, error);
  }

  /** The sampler's latest sample of a session's process tree, every 10 s (null: not running). */
  recordResources(sessionId: string, sample: ResourceSample | null): void {
    this.#sessions.recordResources(sessionId, sample);
  }

  /** The Prometheus text format of every series. */
  async scrape(): Promise<string> {
    await this.#readFigures();
    const own = await this.#registry.metrics();
    return this.#processMetrics ? `${own}\n${await processRegistry().metrics()}` : own;
  }

  /** Whether the last read of the database's figures failed (said once). */
  #figuresFailing = false;

  /** The database's figures, fresh enough (see CachedFigures); on failure the last ones stay. */
  async #readFigures(): Promise<void> {
    const figures = this.#figures;
    if (!figures) return;
    try {
      this.#lastFigures = await figures.get();
      if (this.#figuresFailing) this.#log?.info("metrics: the database's figures can be read again");
      this.#figuresFailing = false;
    } catch (err) {
      this.#storeErrors.inc();
      // Said once while it lasts (every scrape would say it again); counted every time.
      if (!this.#figuresFailing) this.#log?.warn(`metrics: could not read the database's figures: ${describeError(err)} (wa_metrics_store_errors_total counts the failures until they can be read again)`);
      this.#figuresFailing = true;
    }
  }
}
