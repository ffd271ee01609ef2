import { sql, type Kysely } from 'kysely';
import type { Envelope } from '../events/envelope.js';
import type { SessionResource } from '../sessions/resource.js';
import type { Database } from '../store/schema.js';

/**
 * Cluster mode: what this node knows of the sessions other nodes run, so that any node's list,
 * session resource and event-stream snapshot show their real status (a node that does not run a
 * session only has its folder, where it is "stopped"). Fed by every node's `session.status` events
 * (the event follower relays other nodes' to this node's bus), seeded at start from the shared log.
 */

/** The part of a session resource only the node that runs it knows. */
export type RemoteView = Pick<SessionResource, 'status' | 'error' | 'me' | 'restarts' | 'qrAvailable' | 'updatedAt' | 'lastActivity' | 'resources'>;

interface StatusPayload {
  session?: Partial<SessionResource>;
}

/** Statuses a session keeps when nobody runs it: anything else was the word of a node that died. */
const AT_REST = new Set<string>(['stopped', 'failed']);

export class SessionMirror {
  readonly #views = new Map<string, { eventId: string; view: RemoteView }>();

  /** Notes a stored event (this node's own too: a view of a session this node runs is never read). */
  observe(envelope: Envelope): void {
    if (envelope.session === null) return;
    if (envelope.event === 'session.deleted') {
      this.#views.delete(envelope.session);
      return;
    }
    if (envelope.event !== 'session.status') return;
    const session = (envelope.payload as StatusPayload | null)?.session;
    if (!session?.status) return;
    const known = this.#views.get(envelope.session);
    // Relayed events come in each node's order; an older one (a snapshot row, the seed) never wins.
    if (known && known.eventId > envelope.id) return;
    this.#views.set(envelope.session, { eventId: envelope.id, view: pick(session) });
  }

  /**
   * What to show of `session`, which this node does not run: the last view its runner published
   * when another node runs it (`runningElsewhere`), else only a view at rest (stopped, failed) —
   * "ready" from a node that died is not true any more.
   */
  view(session: string, runningElsewhere: boolean): RemoteView | undefined {
    const known = this.#views.get(session)?.view;
    if (!known) return undefined;
    return runningElsewhere || AT_REST.has(known.status) ? known : undefined;
  }

  /** Fills the views from the shared log: each session's latest `session.status` event (Postgres). */
  async seed(db: Kysely<Database>): Promise<void> {
    const { rows } = await sql<{ envelope: string }>`
      select distinct on (session) envelope from events
      where event = 'session.status' and session is not null
      order by session, id desc`.execute(db);
    for (const row of rows) {
      try {
        this.observe(JSON.parse(row.envelope) as Envelope);
      } catch {
        // A row that is not JSON: that session shows what its folder says.
      }
    }
  }
}

function pick(session: Partial<SessionResource>): RemoteView {
  return {
    status: session.status ?? 'stopped',
    error: session.error ?? null,
    me: session.me ?? null,
    restarts: session.restarts ?? 0,
    qrAvailable: session.qrAvailable ?? false,
    updatedAt: session.updatedAt ?? new Date(0).toISOString(),
    lastActivity: session.lastActivity ?? new Date(0).toISOString(),
    resources: session.resources ?? null,
  };
}
