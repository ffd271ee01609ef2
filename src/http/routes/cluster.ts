import type { Request, RequestHandler, Response } from 'express';
import { isForwarded } from '../../cluster/forward.js';
import { choosePlacement } from '../../cluster/placement.js';
import { z } from 'zod';
import { AppError, describeError } from '../../errors.js';
import type { SessionManager } from '../../sessions/manager.js';
import type { ClusterNode } from '../../store/leases.js';
import { route, type RouteDef } from '../route.js';

/** What GET /api/v1/cluster reads: the cluster's nodes (undefined when the server runs alone). */
export interface ClusterSource {
  readonly nodeId: string;
  nodes(): Promise<ClusterNode[]>;
  /** The node that runs `session` now, with its URL, or null when none does. */
  owner(session: string): Promise<{ id: string; url: string } | null>;
  /** Reads which node runs which session again, if the last read is older than a second (lists). */
  refreshHolders(): Promise<void>;
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
const START_PATH = /^\/api\/v1\/sessions\/[^/]+\/(?:start|restart)\/?$/;

/**
 * What a path under /api/v1/sessions names: a session's id, null for the collection itself;
 * undefined for any other path, or an id no session could have (the route answers it).
 */
function sessionOf(path: string): string | null | undefined {
  const match = SESSION_PATH.exec(path);
  if (!match) return undefined;
  if (match[1] === undefined) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Cluster mode: the sessions folder is shared, so a session another node created (or deleted)
 * becomes known here when a request names it or lists sessions, before the route looks it up; a
 * list also reads which node runs which session again (at most once a second).
 */
export function followSharedFolder(manager: Pick<SessionManager, 'discover' | 'sync'>, cluster: Pick<ClusterSource, 'refreshHolders'>): RequestHandler {
  return (req, _res, next) => {
    const id = sessionOf(req.path);
    if (id === undefined) {
      next();
      return;
    }
    const work = id === null ? (req.method === 'GET' ? Promise.all([manager.sync(), cluster.refreshHolders()]) : Promise.resolve()) : manager.discover(id);
    work.then(
      () => next(),
      (err: unknown) => next(err),
    );
  };
}

/** Passes a request on to `node` and streams its answer into `res` (src/cluster/forward.ts). */
export type Forward = (req: Request, res: Response, node: { id: string; url: string }) => Promise<void>;

/**
 * Cluster mode: a call for a session another node runs is passed on to that node, in one hop,
 * before any body is read (it streams to the owner untouched: uploads, event streams). A call that
 * came from another node is served here, whatever this node holds; so is one for a session nobody
 * runs, except its start, which goes where a new session would (placement). The owner is read from
 * the database, not the sweep's view.
 */
export function forwardToOwner(cluster: ClusterSource, forward: Forward, preferred?: (session: string) => Promise<string | undefined>): RequestHandler {
  return (req, res, next) => {
    const id = sessionOf(req.path);
    if (typeof id !== 'string' || isForwarded(req)) {
      next();
      return;
    }
    cluster
      .owner(id)
      .catch((err: unknown) => {
        throw new AppError('NODE_UNAVAILABLE', `cannot tell which node runs session "${id}": the cluster's database did not answer: ${describeError(err)}; try again`);
      })
      .then(async (owner) => {
        if (owner && owner.id !== cluster.nodeId) {
          await forward(req, res, owner);
          return;
        }
        // A session nobody runs starts where a new one would go: its config.node if that node is
        // live, else the node with the most free slots.
        if (!owner && req.method === 'POST' && START_PATH.test(req.path)) {
          const nodes = await cluster.nodes();
          const wanted = await preferred?.(id);
          const node = (wanted !== undefined ? choosePlacement(nodes, cluster.nodeId, wanted) : null) ?? choosePlacement(nodes, cluster.nodeId);
          if (node && node.id !== cluster.nodeId) {
            await forward(req, res, node);
            return;
          }
        }
        next();
      })
      .catch((err: unknown) => next(err));
  };
}

/**
 * Cluster mode: POST /api/v1/sessions of a session that starts goes to the node that should run
 * it (choosePlacement), in one hop; one that does not start, or came from another node, is created
 * here (the folder is shared: any node can run it later).
 */
export function placeCreates(cluster: ClusterSource, forward: Forward): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/api/v1/sessions' || isForwarded(req)) {
      next();
      return;
    }
    const body: unknown = req.body;
    const input = typeof body === 'object' && body !== null ? (body as { start?: unknown; config?: { node?: unknown } }) : {};
    if (input.start === false) {
      next();
      return;
    }
    const wanted = typeof input.config?.node === 'string' ? input.config.node : undefined;
    cluster
      .nodes()
      .then(async (nodes) => {
        const node = choosePlacement(nodes, cluster.nodeId, wanted);
        if (!node) {
          if (wanted !== undefined) throw new AppError('VALIDATION_ERROR', `config.node: no live node named "${wanted}"`, [{ path: 'body.config.node', message: `no live node named "${wanted}"` }]);
          // Every node is full: this node's own check answers MAX_SESSIONS_REACHED with its figures.
          next();
          return;
        }
        if (node.id === cluster.nodeId) {
          next();
          return;
        }
        await forward(req, res, node);
      })
      .catch((err: unknown) => next(err));
  };
}
