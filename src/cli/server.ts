import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../http/app.js';
import { childLogger, createRootLogger, type Logger } from '../log.js';
import { engineAvailability } from '../engines/index.js';
import { EventBus, type StoreStep } from '../events/bus.js';
import { durableStore, historyExtra } from '../events/durable.js';
import { forgetSession, repositories, type Repositories } from '../events/repositories.js';
import { publishSessionEvents } from '../events/session-events.js';
import { openStore } from '../store/db.js';
import { SessionManager } from '../sessions/manager.js';
import type { SendQueue } from '../sessions/send-queue.js';
import type { SendService } from '../sessions/send-service.js';
import { createSending } from '../sessions/sending.js';
import { SessionStore } from '../sessions/store.js';
import { forkWorker, type WorkerFactory } from '../worker/client.js';
import type { RunnerTiming } from '../sessions/runner.js';
import type { ServerConfig } from './options.js';
import { registerSecret } from '../util/redact.js';
import { RetentionJob } from '../events/retention.js';
import { WebhookService } from '../webhooks/deliveries-service.js';
import { WebhookDispatcher, type DispatcherTiming } from '../webhooks/dispatcher.js';
import type { WebhookConfig } from '../webhooks/schema.js';
import { secretForms } from '../webhooks/signing.js';
import { WebhookTargets } from '../webhooks/targets.js';
import { ServerMetrics } from '../metrics/server-metrics.js';
import { storeFigures } from '../metrics/store-figures.js';
import { timedSends } from '../metrics/timed-sends.js';
import { watchResources } from '../metrics/watch-resources.js';
import { Membership } from '../cluster/membership.js';
import { createForwarder } from '../cluster/forward.js';
import { clusterEvents, ownSessions } from '../cluster/node-events.js';
import { LeaseStore } from '../store/leases.js';
import { keepUnstored, restoreUnstored, unstoredFile, unstoredJournal, warnOtherUnstored } from '../events/unstored.js';
import { settlesWithin } from '../util/within.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export interface RunningServer {
  url: string;
  port: number;
  manager: SessionManager;
  bus: EventBus;
  repos: Repositories;
  /** Sends stored events to webhooks; stopped by close() before the database closes. */
  dispatcher: WebhookDispatcher;
  webhooks: WebhookService;
  sends: SendService;
  queue: SendQueue;
  logger: Logger;
  /** The registry behind GET /metrics (the resource sampler hands it its samples). */
  metrics: ServerMetrics;
  /** Cluster mode: this node's leases and takeover sweep (undefined alone). */
  membership: Membership | undefined;
  /** Stops every session, ends every worker and closes the port. */
  close(): Promise<void>;
  /**
   * For a shutdown out of time: hands the events not stored yet to a file for the next start
   * (synchronously), and stops storing; how many.
   */
  keepUnstored(): number;
  /** Resolves when the sessions that were running have been started again. */
  restored: Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  workerFactory?: WorkerFactory;
  timing?: Partial<RunnerTiming>;
  heartbeatMs?: number;
  publicDir?: string;
  /** How long sessions get to stop at shutdown before their processes are killed. */
  shutdownMs?: number;
  /** Webhook delivery timings (tests make them short). */
  webhookTiming?: Partial<DispatcherTiming>;
  /** The deadline of a media fetch by URL (tests make it short). */
  mediaFetchTimeoutMs?: number;
  /** How often the sessions' processes are sampled (tests make it short; default 10 s). */
  resourceIntervalMs?: number;
  /** Backpressure (tests make it small and short): the bus's high water mark, and how long a send waits for room. */
  backpressure?: { highWater?: number; busyWaitMs?: number };
  /** Wraps the bus's store step (tests hold it, as a database that stalls would). */
  wrapStoreStep?: (step: StoreStep) => StoreStep;
}

const NO_WEBHOOKS: readonly WebhookConfig[] = Object.freeze([]);

/** Wires the server by hand, in one place: store, manager, app, port. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createRootLogger({ level: config.logLevel, debug: process.env.DEBUG, format: config.logFormat });
  const log = childLogger(logger, 'wa:server');
  registerSecret(config.apiKey);
  const version = packageVersion();
  const store = new SessionStore(config.sessionsDir);
  // Before the sessions: every send their workers make is timed for /metrics.
  const metrics = new ServerMetrics({ logger: log });
  // Cluster mode: the database (Postgres, checked by the options) first, as the manager runs
  // sessions only under their leases. Alone, the SQLite file lives in the sessions folder, which
  // the manager's load creates: the database comes after it.
  const clusterDb = config.cluster ? await openStore({ databaseUrl: config.databaseUrl, sessionsDir: store.root, logger }) : undefined;
  const membership =
    config.cluster && clusterDb
      ? new Membership({
          leases: new LeaseStore(clusterDb.db),
          node: { id: config.cluster.nodeId, url: config.cluster.nodeUrl, maxSessions: config.maxSessions },
          logger: log,
        })
      : undefined;
  const manager = new SessionManager({
    store,
    logger,
    maxSessions: config.maxSessions,
    defaults: { engine: config.engine, useChrome: config.useChrome, executablePath: config.executablePath },
    workerFactory: timedSends(opts.workerFactory ?? forkWorker, metrics),
    timing: opts.timing,
    cluster: membership,
  });
  await manager.load();
  const database = clusterDb ?? (await openStore({ databaseUrl: config.databaseUrl, sessionsDir: store.root, logger }));
  const repos = repositories(database.db);
  for (const form of secretForms(config.webhookSecret)) registerSecret(form);
  const targets = new WebhookTargets({ urls: config.webhookUrls, secret: config.webhookSecret, events: config.webhookEvents }, (sessionId) => {
    // undefined: deleted (or being deleted).
    const session = manager.find(sessionId);
    return session ? (session.config.webhooks ?? NO_WEBHOOKS) : undefined;
  });
  const dispatcher = new WebhookDispatcher({
    db: database.db,
    deliveries: repos.deliveries,
    targets,
    logger: log,
    userAgent: `wa-multi-session/${version}`,
    timing: opts.webhookTiming,
    // Cluster: every node works the shared deliveries; each attempt is claimed by one node first.
    claims: membership ? { node: membership.nodeId } : undefined,
    discover: membership ? (session) => manager.discover(session) : undefined,
  });
  const webhooks = new WebhookService({ manager, deliveries: repos.deliveries, dispatcher, targets });
  const durable = durableStore(database.db, [historyExtra, dispatcher.storeExtra]);
  const storeStep = opts.wrapStoreStep ? opts.wrapStoreStep(durable) : durable;
  // Cluster: the bus also hands out other nodes' events (see cluster/node-events.ts).
  // What the database does not take is kept in this file too, while it does not and at shutdown.
  const keptFile = unstoredFile(store.root, membership?.nodeId);
  const busOptions = {
    highWater: opts.backpressure?.highWater,
    journal: unstoredJournal(keptFile, log),
    isStored: async (id: string) => (await repos.events.stored([id])).has(id),
  };
  const cluster = membership
    ? clusterEvents({ membership, manager, db: database.db, databaseUrl: config.databaseUrl, storeStep, logger, busOptions })
    : undefined;
  const bus: EventBus = cluster?.bus ?? new EventBus(storeStep, childLogger(logger, 'wa:server'), busOptions);
  // What the database did not take before the last stop is stored first, before any new event.
  await restoreUnstored({ bus, events: repos.events, file: keptFile, logger: log, sessionExists: (id) => store.exists(id) });
  warnOtherUnstored(store.root, keptFile, log);
  await cluster?.start();
  const forwarder = membership ? createForwarder({ nodeId: membership.nodeId }) : undefined;
  const metricSessions = membership ? ownSessions(manager, membership) : manager;
  const stopMetrics = metrics.attach({ sessions: metricSessions, webhooks: dispatcher, bus, store: storeFigures(database.db, repos.events) });
  const stopWatching = watchResources({
    manager,
    record: (sessionId, sample) => metrics.recordResources(sessionId, sample),
    defaultMaxMemoryMB: config.maxMemoryMB,
    logger: log,
    intervalMs: opts.resourceIntervalMs,
  });

  let shuttingDown = false;
  const engines = () => engineAvailability({ executablePath: config.executablePath, useChrome: config.useChrome });
  // Listen first, so the URLs handed out (banner, /info, the API document) carry the real port.
  // A request that comes before the app is ready (below) waits for it: with no 'request' listener
  // Node would accept it and never answer, and a client that polls /health at start-up hangs.
  const early: [http.IncomingMessage, http.ServerResponse][] = [];
  let handler: http.RequestListener | undefined = undefined;
  const server = http.createServer((req, res) => {
    if (handler) handler(req, res);
    else early.push([req, res]);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A client gets 20 s for its headers and 3 min for a whole request (a 64 MB upload at ~3 Mbit/s).
  // Handlers take a session's lock only after the body is in, so a slow client never holds one.
  server.headersTimeout = 20_000;
  server.requestTimeout = 180_000;
  const port = (server.address() as AddressInfo).port;
  const publicUrl = config.port === 0 ? config.publicUrl.replace(/:0$/, `:${String(port)}`) : config.publicUrl;
  // --port 0 without --node-url: the other nodes reach this one on the port it got.
  if (membership && config.port === 0) membership.url = membership.url.replace(/:0$/, `:${String(port)}`);

  const publishJob = (event: 'message.queued' | 'message.failed', sessionId: string, payload: unknown): void => {
    const session = manager.find(sessionId);
    bus
      .publish({ event, session: sessionId, engine: session?.engine ?? null, me: session?.me ?? null, payload })
      .catch((err: unknown) => log.error(`could not store the ${event} event of ${sessionId}: ${String(err)}`));
  };
  const { queue, sends, media } = createSending({
    manager,
    jobs: repos.jobs,
    messages: repos.messages,
    maxBodyBytes: config.maxBodyBytes,
    allowPrivateUrls: config.allowPrivateUrls,
    mediaFetchTimeoutMs: opts.mediaFetchTimeoutMs,
    // Sends wait while the event log is far behind (bounded memory, nothing lost at shutdown).
    room: (o) => bus.room(o),
    stored: () => bus.idle(),
    busyWaitMs: opts.backpressure?.busyWaitMs,
    events: {
      queued: (job, payload) => publishJob('message.queued', job.sessionId, payload),
      failed: (job, payload) => publishJob('message.failed', job.sessionId, payload),
    },
  });
  const stopEvents = publishSessionEvents(manager, bus, {
    publicUrl,
    logger: log,
    forget: async (sessionId) => {
      await queue.forget(sessionId);
      await forgetSession(repos, sessionId);
    },
  });
  // A session that became ready sends what waits for it.
  const stopWaking = manager.on('status', (change) => {
    if (change.status === 'ready') queue.wake(change.sessionId);
  });

  const { app } = createApp({
    manager,
    bus,
    repos,
    webhooks,
    sends,
    queue,
    logger,
    apiKey: config.apiKey,
    maxBodyBytes: config.maxBodyBytes,
    rateLimit: config.rateLimit,
    sendRateLimit: config.sendRateLimit,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    metrics,
    metricsPublic: config.metricsPublic,
    cluster: membership,
    forward: forwarder ? (req, res, node) => forwarder.forward(req, res, node) : undefined,
    publicDir: opts.publicDir ?? path.join(root, 'public'),
    heartbeatMs: opts.heartbeatMs,
    info: {
      name: 'wa-multi-session',
      version,
      startedAt: new Date(),
      publicUrl,
      engines,
      defaultEngine: config.engine,
      isShuttingDown: () => shuttingDown,
      eventLog: () => bus.health(),
    },
  });
  // Files a crash left between being written and being queued: no waiting send refers to them.
  // Not in a cluster: the folder is shared, and another node may be between the two for a session.
  for (const session of membership ? [] : manager.list()) {
    const removed = await media.sweep(
      session.id,
      async () => new Set((await queue.list(session.id)).flatMap((job) => (job.op === 'sendMedia' ? [(job.params as { file: string }).file] : []))),
    );
    if (removed > 0) session.log('info', `removed ${String(removed)} file(s) no queued send needs from outgoing/`);
  }
  handler = app;
  for (const [req, res] of early.splice(0)) app(req, res);

  const browser = engines()['wa-automate'];
  log.info(
    `WhatsApp multi-session server ${version} listening on ${config.host}:${String(port)} · UI ${publicUrl}/ · API docs ${publicUrl}/api-docs · info ${publicUrl}/info`,
  );
  log.info(
    `default engine ${config.engine} · max ${String(config.maxSessions)} sessions · sessions in ${store.root} · browser: ${browser.available ? String(browser.browserPath) : String(browser.reason)}`,
  );
  if (!config.apiKey && !['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
    log.warn(`no --api-key: anyone who can reach ${config.host}:${String(port)} can control every session`);
  }

  // Pending deliveries of the last run (however it ended) go out again from here.
  await dispatcher.start(bus);
  // So do queued sends; one a crash left half-sent is settled first (never sent again blindly).
  await queue.start();
  // Old events, deliveries, keys and media go an hour at a time; the first pass a minute after start.
  const retention = new RetentionJob({
    repos,
    sessionsDir: store.root,
    eventRetentionDays: config.eventRetentionDays,
    mediaRetentionDays: config.mediaRetentionDays,
    logger,
  });
  retention.start();
  if (config.webhookUrls.length > 0) log.info(`webhooks: every session's events go to ${config.webhookUrls.join(', ')}`);

  const restored = manager.restore().catch((err: unknown) => {
    log.error(`restore failed: ${String(err)}`);
  });
  if (membership) {
    // Joins once the sessions to run are offered: the first sweep takes this node's share of them.
    await restored;
    await membership.start({ adopt: (id) => manager.adopt(id), lose: (ids, reason) => manager.lose(ids, reason) });
    log.info(`cluster: node ${membership.nodeId} (${membership.url}) joined`);
    if (config.cluster?.nodeUrlDefaulted) {
      log.warn(`cluster: no --node-url: the other nodes pass calls for this node's sessions to ${membership.url}; if they cannot reach it there, pass --node-url`);
    }
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      const retentionStopped = retention.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Event streams never end by themselves (nor do those passed on to other nodes).
      server.closeAllConnections();
      await forwarder?.close();
      stopWatching();
      // No new send starts; one on the wire finishes or stays "sending" for the next start to settle.
      await queue.close();
      stopWaking();
      // Cluster: takes nothing more, then each session is stopped and its lease handed over.
      await membership?.drain();
      await manager.shutdown(opts.shutdownMs);
      await membership?.stop();
      stopEvents();
      // What the sessions said while stopping is stored before the database closes; what the
      // database does not take in time is kept in a file for the next start.
      // (A database that cannot be written now gets 1 s; one that is only slow, 10 s.)
      if (!(await settlesWithin(bus.idle(), bus.health().ok ? 10_000 : 1_000))) keepUnstored(bus, keptFile, log);
      await cluster?.stop();
      // Attempts on the wire are abandoned (still pending: sent again at the next start).
      await dispatcher.stop();
      await retentionStopped;
      stopMetrics();
      await database.close();
      await closed;
    })();
    return closing;
  };
  return { url: `http://127.0.0.1:${String(port)}`, port, manager, bus, repos, dispatcher, webhooks, sends, queue, logger, metrics, membership, close, restored, keepUnstored: () => keepUnstored(bus, keptFile, log) };
}
