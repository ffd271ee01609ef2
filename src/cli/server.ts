import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../http/app.js';
import { childLogger, createRootLogger, type Logger } from '../log.js';
import { engineAvailability } from '../engines/index.js';
import { EventBus } from '../events/bus.js';
import { durableStore } from '../events/durable.js';
import { forgetSession, repositories, type Repositories } from '../events/repositories.js';
import { publishSessionEvents } from '../events/session-events.js';
import { openStore } from '../store/db.js';
import { SessionManager } from '../sessions/manager.js';
import { SessionStore } from '../sessions/store.js';
import type { WorkerFactory } from '../worker/client.js';
import type { RunnerTiming } from '../sessions/runner.js';
import type { ServerConfig } from './options.js';
import { registerSecret } from '../util/redact.js';

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
  logger: Logger;
  /** Stops every session, ends every worker and closes the port. */
  close(): Promise<void>;
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
}

/** Wires the server by hand, in one place: store, manager, app, port. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createRootLogger({ level: config.logLevel, debug: process.env.DEBUG });
  const log = childLogger(logger, 'wa:server');
  registerSecret(config.apiKey);
  const version = packageVersion();
  const store = new SessionStore(config.sessionsDir);
  const manager = new SessionManager({
    store,
    logger,
    maxSessions: config.maxSessions,
    defaults: { engine: config.engine, useChrome: config.useChrome, executablePath: config.executablePath },
    workerFactory: opts.workerFactory,
    timing: opts.timing,
  });
  await manager.load();
  const database = await openStore({ databaseUrl: config.databaseUrl, sessionsDir: store.root, logger });
  const repos = repositories(database.db);
  const bus = new EventBus(durableStore(database.db), childLogger(logger, 'wa:server'));

  let shuttingDown = false;
  const engines = () => engineAvailability({ executablePath: config.executablePath, useChrome: config.useChrome });
  // Listen first, so the URLs handed out (banner, /info, the API document) carry the real port.
  const server = http.createServer();
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

  const stopEvents = publishSessionEvents(manager, bus, {
    publicUrl,
    logger: log,
    forget: (sessionId) => forgetSession(repos, sessionId),
  });

  const { app } = createApp({
    manager,
    bus,
    repos,
    logger,
    apiKey: config.apiKey,
    maxBodyBytes: config.maxBodyBytes,
    rateLimit: config.rateLimit,
    sendRateLimit: config.sendRateLimit,
    corsOrigins: config.corsOrigins,
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
    },
  });
  server.on('request', app);

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

  const restored = manager.restore().catch((err: unknown) => {
    log.error(`restore failed: ${String(err)}`);
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Event streams never end by themselves.
      server.closeAllConnections();
      await manager.shutdown(opts.shutdownMs);
      stopEvents();
      // What the sessions said while stopping is stored before the database closes.
      await bus.idle();
      await database.close();
      await closed;
    })();
    return closing;
  };
  return { url: `http://127.0.0.1:${String(port)}`, port, manager, bus, repos, logger, close, restored };
}
