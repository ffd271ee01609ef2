import type { RequestHandler } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { SessionManager } from '../../sessions/manager.js';
import type { ClusterNode } from '../../store/leases.js';
import { route, type RouteDef } from '../route.js';

/** What GET /api/v1/cluster reads: the cluster's nodes (undefined when the server runs alone). */
export interface ClusterSource {
  readonly nodeId: string;
  nodes(): Promise<ClusterNode[]>;
}

const clusterNodeSchema = z
  .object({
    id: z.string(),
    url: z.string().meta({ description: 'how the other nodes reach it (--node-url)' }),
    lastSeen: z.string().meta({ description: "the database's time of its last renew" }),
    sessions: z.number().int().meta({ description: 'sessions it runs now (leases it holds)' }),
    maxSessions: z.number().int(),
    live: z.boolean().meta({ description: 'seen within the lease ttl (15 s)' }),
    draining: z.boolean().meta({ description: 'handing its sessions over (SIGTERM): it takes no more' }),
  })
  .meta({ id: 'ClusterNode' });

const clusterSchema = z
  .object({ node: z.string().meta({ description: 'the node that answered' }), nodes: z.array(clusterNodeSchema) })
  .meta({ id: 'Cluster' });

export function clusterRoutes(cluster: ClusterSource | undefined): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/cluster',
      operationId: 'getCluster',
      summary: 'The nodes of the cluster with their load (cluster mode only)',
      tags: ['Server'],
      success: { status: 200, description: 'every node that joined, live or not', schema: clusterSchema },
      errors: ['UNAUTHORIZED', 'NOT_FOUND'],
      handler: async () => {
        if (!cluster) throw new AppError('NOT_FOUND', 'this server runs alone: start every node with --cluster for a cluster');
        const nodes = await cluster.nodes();
        return {
          data: {
            node: cluster.nodeId,
            nodes: nodes.map((n) => ({
              id: n.id,
              url: n.url,
              lastSeen: n.lastSeen.toISOString(),
              sessions: n.sessions,
              maxSessions: n.maxSessions,
              live: n.live,
              draining: n.draining,
            })),
          },
        };
      },
    }),
  ];
}

const SESSION_PATH = /^\/api\/v1\/sessions(?:\/([^/]+))?(?:\/|$)/;

/**
 * Cluster mode: the sessions folder is shared, so a session another node created (or deleted)
 * becomes known here when a request names it or lists sessions, before the route looks it up.
 */
export function followSharedFolder(manager: Pick<SessionManager, 'discover' | 'sync'>): RequestHandler {
  return (req, _res, next) => {
    const match = SESSION_PATH.exec(req.path);
    if (!match) {
      next();
      return;
    }
    let id: string | undefined;
    try {
      id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    } catch {
      // Not an id any session could have: the route answers it.
      next();
      return;
    }
    const work = id === undefined ? (req.method === 'GET' ? manager.sync() : Promise.resolve()) : manager.discover(id);
    work.then(
      () => next(),
      (err: unknown) => next(err),
    );
  };
}
