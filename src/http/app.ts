import path from 'node:path';
import express, { type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import { childLogger, type Logger } from '../log.js';
import type { SessionManager } from '../sessions/manager.js';
import { EventTokens, requireApiKey } from './auth.js';
import { apiNotFound, errorHandler, requireJsonBody } from './errors.js';
import { buildOpenApiDocument } from './openapi.js';
import { mount, type RouteDef } from './route.js';
import { eventRoutes } from './routes/events.js';
import { messageRoutes } from './routes/messages.js';
import { proxyRoutes } from './routes/proxy.js';
import { sandboxRoutes } from './routes/sandbox.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes, type SystemInfo } from './routes/system.js';

export interface AppDeps {
  manager: SessionManager;
  logger: Logger;
  info: SystemInfo;
  publicDir: string;
  /** The largest JSON body accepted, in bytes. */
  maxBodyBytes: number;
  /** When set, /api/v1 and /info need it (X-API-Key or Bearer). */
  apiKey?: string | undefined;
  heartbeatMs?: number;
}

export interface App {
  app: Express;
  routes: RouteDef[];
  openApiDocument: ReturnType<typeof buildOpenApiDocument>;
}

/** The whole HTTP surface on one Express app. It never listens: the CLI (or a test) does. */
export function createApp(deps: AppDeps): App {
  const log = childLogger(deps.logger, 'wa:api');
  const tokens = new EventTokens();
  const routes: RouteDef[] = [
    ...sessionRoutes(deps.manager),
    ...messageRoutes(deps.manager),
    ...sandboxRoutes(deps.manager),
    ...proxyRoutes(deps.manager),
    ...eventRoutes(deps.manager, { heartbeatMs: deps.heartbeatMs ?? 15_000 }, tokens),
    ...systemRoutes(deps.manager, deps.info),
  ];
  const openApiDocument = buildOpenApiDocument(routes, {
    title: 'WhatsApp multi-session server',
    version: deps.info.version,
    serverUrl: deps.info.publicUrl,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.debug(`${req.method} ${req.originalUrl.split('?')[0] ?? ''} ${String(res.statusCode)} ${ms.toFixed(1)} ms`);
    });
    next();
  });

  if (deps.apiKey) {
    const auth = requireApiKey(deps.apiKey, tokens);
    app.use('/api/v1', auth);
    app.use('/info', auth);
  }
  app.use('/api/v1', requireJsonBody, express.json({ limit: deps.maxBodyBytes, strict: false }));
  const router = express.Router();
  for (const def of routes) mount(router, def);
  app.use(router);
  app.use('/api/v1', apiNotFound);

  app.get('/api-docs.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.use('/api-docs', swaggerUi.serve, swaggerUi.setup(openApiDocument, { customSiteTitle: 'WhatsApp multi-session API' }));
  app.use(express.static(path.resolve(deps.publicDir), { index: 'index.html', maxAge: 0 }));
  app.use(errorHandler(log));
  return { app, routes, openApiDocument };
}
