import { sql, type Kysely } from 'kysely';
import type { Envelope } from '../events/envelope.js';
import type { SessionResource } from '../sessions/resource.js';
import type { Database } from '../store/schema.js';

/**
 * Cluster mode: what this node knows of the sessions other nodes run, so that any node's list,
 * session resource and event-stream snapshot show their real status (a node that does not run a
 * session only has its folder, where it is "stopped"). Fed by every node's `session.status` events
 * (the event follower hands other nodes' to it), seeded at start from the shared log; a session this
 * node changes itself is forgotten here (its own state is then the latest word).
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

  /** This node changed the session itself (it ran it, stopped it, logged it out): its own state is the latest word. */
  forget(session: string): void {
    this.#views.delete(session);
  }

  /** Notes an event another node stored. */
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
  view(session: string, runningElsewhere: boolean): Partial<RemoteView> | undefined {
    const known = this.#views.get(session)?.view;
    if (!known) return undefined;
    if (runningElsewhere) return known;
    if (!AT_REST.has(known.status)) return undefined;
    // At rest, only how it ended: who it was logged in as may have changed since (a logout).
    const { status, error, restarts, updatedAt, lastActivity } = known;
    return { status, error, restarts, updatedAt, lastActivity };
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
