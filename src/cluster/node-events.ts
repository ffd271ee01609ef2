import type { Kysely } from 'kysely';
import { childLogger, type Logger } from '../log.js';
import type { BusOptions, StoreStep } from '../events/bus.js';
import type { SessionSource } from '../metrics/session-series.js';
import type { SessionManager } from '../sessions/manager.js';
import type { Database } from '../store/schema.js';
import { EventFollower } from './events-follow.js';
import type { Membership } from './membership.js';
import { RelayBus } from './relay-bus.js';

/**
 * Cluster mode, the events side of a node as the server wires it: its bus also hands out the events
 * other nodes stored (the follower reads them from the shared log), what those nodes say of their
 * sessions is mirrored, and sessions they create or delete in the shared folder are followed.
 */
export interface ClusterEvents {
  bus: RelayBus;
  /** Starts following (before the port opens): the mirror is seeded, other nodes' events flow. */
  start(): Promise<void>;
  /** Stops following; after the bus is idle and before the database closes. */
  stop(): Promise<void>;
}

export function clusterEvents(opts: {
  membership: Membership;
  manager: SessionManager;
  db: Kysely<Database>;
  databaseUrl: string | undefined;
  /** The bus's own store step (durableStore): this node's events. */
  storeStep: StoreStep;
  logger: Logger;
  /** The bus's high water mark (EventBus.room) and journal. */
  busOptions?: BusOptions;
}): ClusterEvents {
  const { membership, manager } = opts;
  const log = childLogger(opts.logger, 'wa:cluster');
  const follower = new EventFollower({
    db: opts.db,
    databaseUrl: opts.databaseUrl,
    node: membership.nodeId,
    deliver: (envelope) => {
      membership.mirror.observe(envelope);
      bus.relay(envelope, (err) => log.error(`an event of another node could not be handed out: ${String(err)}`));
    },
    logger: log,
  });
  const bus = new RelayBus(follower.ownStore(opts.storeStep), childLogger(opts.logger, 'wa:server'), opts.busOptions);
  const offs: (() => unknown)[] = [];
  return {
    bus,
    async start() {
      // Sessions other nodes create or delete in the shared folder become known (or forgotten) here.
      offs.push(
        bus.subscribe((envelope) => {
          if (envelope.session === null || membership.holds(envelope.session)) return;
          const followed =
            envelope.event === 'session.created' ? manager.discover(envelope.session) : envelope.event === 'session.deleted' ? manager.sync() : undefined;
          followed?.catch((err: unknown) => log.warn(`cluster: could not follow the shared sessions folder: ${String(err)}`));
        }),
      );
      // What this node does to a session itself is the latest word on it.
      offs.push(manager.on('status', (change) => membership.mirror.forget(change.sessionId)));
      await follower.start();
      await membership.mirror.seed(opts.db);
    },
    async stop() {
      for (const off of offs.splice(0)) off();
      await follower.stop();
    },
  };
}

/** What a node's /metrics lists: the sessions it runs and those nobody runs, never another node's. */
export function ownSessions(manager: SessionManager, membership: Membership): SessionSource {
  return {
    list: () => manager.list().filter((s) => (membership.nodeOf(s.id) ?? membership.nodeId) === membership.nodeId),
    find: (id) => manager.find(id),
    on: manager.on.bind(manager),
  };
}
