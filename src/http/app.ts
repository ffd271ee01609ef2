import path from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';
import { childLogger, type Logger } from '../log.js';
import type { EventBus } from '../events/bus.js';
import type { Repositories } from '../events/repositories.js';
import type { SessionManager } from '../sessions/manager.js';
import type { SendQueue } from '../sessions/send-queue.js';
import type { SendService } from '../sessions/send-service.js';
import { IdempotentSends } from './idempotency.js';
import { EventTokens, requireApiKey } from './auth.js';
import { errorHandler, jsonBodies } from './errors.js';
import { methodNotAllowed, notFound } from './fallbacks.js';
import { verifyJsonComplexity } from './json-limits.js';
import { buildOpenApiDocument } from './openapi.js';
import { mount, type RouteDef } from './route.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { contactRoutes } from './routes/contacts.js';
import { messageRoutes } from './routes/messages.js';
import { metricsRoutes, type MetricsSource } from './routes/metrics.js';
import { pairingRoutes } from './routes/pairing.js';
import { queueRoutes } from './routes/queue.js';
import { sendRoutes } from './routes/sends.js';
import { proxyRoutes } from './routes/proxy.js';
import { sandboxRoutes } from './routes/sandbox.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes, type SystemInfo } from './routes/system.js';
import { webhookRoutes } from './routes/webhooks.js';
import { clusterRoutes, followSharedFolder, forwardToOwner, placeCreates, type ClusterSource, type Forward } from './routes/cluster.js';
import { servedBy } from '../cluster/forward.js';
import { OrderedFeed } from '../cluster/ordered-feed.js';
import type { WebhookService } from '../webhooks/deliveries-service.js';
import { clientLimiter, corsFor, docsSecurityHeaders, GUARDED_PREFIXES, needsKey, securityHeaders, sendLimiter } from './security.js';

export interface AppDeps {
  manager: SessionManager;
  /** Where events are published and streamed from. */
  bus: EventBus;
  repos: Repositories;
  /** Webhook deliveries (list, retry) and a session's webhook test. */
  webhooks: WebhookService;
  /** Every send-*: straight to the session, or through its queue. */
  sends: SendService;
  queue: SendQueue;
  logger: Logger;
  info: SystemInfo;
  publicDir: string;
  /** The largest JSON body accepted, in bytes. */
  maxBodyBytes: number;
  /** When set, /api/v1 and /info need it (X-API-Key or Bearer). */
  apiKey?: string | undefined;
  /** Requests a minute per client on /api/v1 and /info, refused ones included (0: off). */
  rateLimit?: number;
  /** Sends a minute per session (0: off). */
  sendRateLimit?: number;
  corsOrigins?: readonly string[];
  heartbeatMs?: number;
  /** Express's `trust proxy` (--trust-proxy): which X-Forwarded-For hops name the client. */
  trustProxy?: boolean | number | string | undefined;
  /** GET /metrics reads it (without it, the route answers 404). */
  metrics?: MetricsSource;
  /** --metrics-public: GET /metrics without the API key (still under the per-client limit). */
  metricsPublic?: boolean;
  /** Cluster mode (--cluster): GET /api/v1/cluster, and the shared sessions folder followed. */
  cluster?: ClusterSource | undefined;
  /** Cluster mode: how a request is passed on to another node (src/cluster/forward.ts). */
  forward?: Forward | undefined;
}

/** How late (after it was stored) a cluster stream may hear an event live: the feed's hold and a margin. */
const LATE_MS = 10_000;

export interface App {
  app: Express;
  routes: RouteDef[];
  openApiDocument: ReturnType<typeof buildOpenApiDocument>;
}

/** The whole HTTP surface on one Express app. It never listens: the CLI (or a test) does. */
export function createApp(deps: AppDeps): App {
  const log = childLogger(deps.logger, 'wa:api');
  const tokens = new EventTokens(undefined, deps.apiKey);
  const rateLimit = deps.rateLimit ?? 0;
  const sendRateLimit = deps.sendRateLimit ?? 0;
  const idempotent = new IdempotentSends({
    store: deps.repos.idempotency,
    // In the session's own log, where its sends are.
    warn: (session, message) => deps.manager.find(session)?.log('warn', message),
  });
  // Cluster: event streams hear every node's events in id order (held a moment: OrderedFeed).
  const streams = deps.cluster ? new OrderedFeed(deps.bus) : deps.bus;
  const routes: RouteDef[] = [
    ...sessionRoutes(deps.manager),
    ...sendRoutes(deps.manager, deps.sends, idempotent),
    ...contactRoutes(deps.manager),
    ...queueRoutes(deps.manager, deps.queue),
    ...pairingRoutes(deps.manager),
    ...messageRoutes(deps.manager, deps.repos),
    ...sandboxRoutes(deps.manager),
    ...proxyRoutes(deps.manager),
    ...webhookRoutes(deps.webhooks),
    ...eventRoutes(deps.manager, { heartbeatMs: deps.heartbeatMs ?? 15_000, logger: log, bus: streams, lateMs: streams === deps.bus ? 0 : LATE_MS, events: deps.repos.events }, tokens),
    ...systemRoutes(deps.manager, deps.info),
    ...clusterRoutes(deps.cluster),
    ...metricsRoutes(deps.metrics),
    ...docsRoutes(() => openApiDocument),
  ];
  const openApiDocument = buildOpenApiDocument(routes, {
    title: 'WhatsApp multi-session server',
    version: deps.info.version,
    apiKey: Boolean(deps.apiKey),
    rateLimited: rateLimit > 0,
    sendRateLimited: sendRateLimit > 0,
    metricsPublic: deps.metricsPublic,
  });

  const app = express();
  app.disable('x-powered-by');
  // Behind a reverse proxy, the client's address (rate limits, logs) comes from X-Forwarded-For.
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('etag', false);
  // One debug line per request, only when debug lines are written at all (DEBUG=wa:api): otherwise
  // the timer, the 'finish' listener and winston's pipeline would run for a line that is dropped.
  if (log.isLevelEnabled('debug')) {
    app.use((req, res, next) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.debug(`${req.method} ${req.originalUrl.split('?')[0] ?? ''} ${String(res.statusCode)} ${ms.toFixed(1)} ms`);
      });
      next();
    });
  }
  // Which node answered (a forwarded answer keeps the serving node's).
  if (deps.cluster) app.use(servedBy(deps.cluster.nodeId));
  app.use(securityHeaders);
  // Replaces the policy above for Swagger UI's page only.
  app.use('/api-docs', docsSecurityHeaders);
  const cors = corsFor(deps.corsOrigins ?? []);
  if (cors) app.use('/api/v1', cors);

  // Rate limiting comes before authentication, so guessing keys is limited too, on every guarded path.
  const perClient = clientLimiter(rateLimit);
  const auth = deps.apiKey ? requireApiKey(deps.apiKey, tokens) : undefined;
  for (const prefix of GUARDED_PREFIXES) {
    if (perClient) app.use(prefix, perClient);
    if (auth && needsKey(prefix, deps.metricsPublic)) app.use(prefix, auth);
  }
  // A call for a session another node runs goes there before its body is read (authenticated and
  // limited here first; the owner checks again).
  if (deps.cluster && deps.forward) {
    const manager = deps.manager;
    app.use(forwardToOwner(deps.cluster, deps.forward, async (id) => (await manager.discover(id))?.session.config.node));
  }
  app.use('/api/v1', jsonBodies(express.json({ limit: deps.maxBodyBytes, strict: false, verify: verifyJsonComplexity })));

  if (deps.cluster) {
    app.use(followSharedFolder(deps.manager, deps.cluster));
    if (deps.forward) app.use(placeCreates(deps.cluster, deps.forward));
  }

  const perSession = sendLimiter(sendRateLimit);
  const router = express.Router();
  for (const def of routes) {
    const before: RequestHandler[] = def.sends && perSession ? [perSession] : [];
    mount(router, def, before);
  }
  app.use(router);
  app.use(methodNotAllowed(routes));
  app.use('/api/v1', notFound);
  // Swagger UI's scripts and styles; the page itself is the /api-docs route above.
  app.use('/api-docs', swaggerUi.serveFiles(openApiDocument));
  app.use(express.static(path.resolve(deps.publicDir), { index: 'index.html', maxAge: 0 }));
  app.use(notFound);
  app.use(errorHandler(log));
  return { app, routes, openApiDocument };
}
