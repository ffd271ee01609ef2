import { z } from 'zod';
import type { EngineAvailability } from '../../engines/index.js';
import { SESSION_STATUSES } from '../../engines/types.js';
import type { SessionManager } from '../../sessions/manager.js';
import { resourcesSchema, type SessionResources } from '../../sessions/resource.js';
import { route, type RouteDef } from '../route.js';

export interface SystemInfo {
  name: string;
  version: string;
  startedAt: Date;
  publicUrl: string;
  engines: () => Record<string, EngineAvailability>;
  defaultEngine: string;
  isShuttingDown: () => boolean;
  /** Whether events are being stored (EventBus.health); checked by /health when given. */
  eventLog?: () => { ok: boolean; message: string };
}

const infoSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    node: z.string(),
    uptime: z.number().meta({ description: 'seconds' }),
    startedAt: z.string(),
    urls: z.object({ ui: z.string(), apiDocs: z.string(), info: z.string() }),
    maxSessions: z.number(),
    defaultEngine: z.string(),
    restoring: z.boolean(),
    eventLog: z
      .object({ ok: z.boolean(), message: z.string() })
      .meta({ description: 'whether the database takes events; when not, since when, why and how many wait in memory (as /health says)' }),
    sessions: z.object({ total: z.number(), byStatus: z.record(z.enum(SESSION_STATUSES), z.number()) }),
    engines: z.record(
      z.string(),
      z.object({ available: z.boolean(), browserPath: z.string().nullable().optional(), reason: z.string().nullable().optional() }),
    ),
    workers: z.record(z.string(), z.number()).meta({ description: 'session id → worker pid' }),
    memory: z.object({ rss: z.number(), heapUsed: z.number(), heapTotal: z.number(), external: z.number() }),
    resources: z
      .object({
        total: z
          .object({ sessions: z.number().int(), processes: z.number().int(), rssBytes: z.number().int(), pssBytes: z.number().int(), cpuPercent: z.number() })
          .meta({ description: 'the sums over the running sessions sampled (the server process itself is `memory`)' }),
        sessions: z.record(z.string(), resourcesSchema).meta({ description: "session id → its processes' latest sample (running sessions only)" }),
      })
      .meta({ description: 'what the sessions\' processes use, sampled from /proc every 10 s' }),
  })
  .meta({ id: 'ServerInfo' });

const healthSchema = z
  .object({ status: z.enum(['ok', 'error']), checks: z.record(z.string(), z.object({ ok: z.boolean(), message: z.string() })) })
  .meta({ id: 'Health' });

function sessionResources(manager: SessionManager) {
  const sessions: Record<string, SessionResources> = {};
  const total = { sessions: 0, processes: 0, rssBytes: 0, pssBytes: 0, cpuPercent: 0 };
  for (const session of manager.list()) {
    const r = session.resources;
    if (!r) continue;
    sessions[session.id] = r;
    total.sessions += 1;
    total.processes += r.processes;
    total.rssBytes += r.rssBytes;
    total.pssBytes += r.pssBytes;
    total.cpuPercent += r.cpuPercent;
  }
  total.cpuPercent = Math.round(total.cpuPercent * 10) / 10;
  return { total, sessions };
}

export function systemRoutes(manager: SessionManager, info: SystemInfo): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/info',
      operationId: 'getServerInfo',
      summary: 'Server version, uptime, limits, session counts, engines and memory',
      tags: ['Server'],
      success: { status: 200, description: 'server information', schema: infoSchema },
      errors: ['UNAUTHORIZED'],
      handler: ({ res }) => {
        const byStatus = manager.countsByStatus();
        const mem = process.memoryUsage();
        res.json({
            name: info.name,
            version: info.version,
            node: process.version,
            uptime: Math.round((Date.now() - info.startedAt.getTime()) / 1000),
            startedAt: info.startedAt.toISOString(),
            urls: { ui: `${info.publicUrl}/`, apiDocs: `${info.publicUrl}/api-docs`, info: `${info.publicUrl}/info` },
            maxSessions: manager.maxSessions,
            defaultEngine: info.defaultEngine,
            restoring: manager.restoring,
            eventLog: info.eventLog?.() ?? { ok: true, message: 'events are stored' },
            sessions: { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus },
            engines: info.engines(),
            workers: manager.workerPids(),
            memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external },
            resources: sessionResources(manager),
        });
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      alsoAnswers: [{ status: 503, description: 'a check failed (the response names it)', schema: healthSchema }],
      summary: 'Liveness and readiness: 200 when every check passes, else 503',
      tags: ['Server'],
      success: { status: 200, description: 'healthy (503 with the failing check otherwise)', schema: healthSchema },
      errors: [],
      handler: async ({ res }) => {
        const checks: Record<string, { ok: boolean; message: string }> = {};
        checks.sessionsDir = await manager.storageCheck();
        if (info.eventLog) checks.eventLog = info.eventLog();
        checks.server = info.isShuttingDown()
          ? { ok: false, message: 'shutting down' }
          : { ok: true, message: 'accepting requests' };
        const ok = Object.values(checks).every((c) => c.ok);
        res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'error', checks });
        return undefined;
      },
    }),
  ];
}
