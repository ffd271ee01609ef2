import type { Generated } from 'kysely';

/**
 * The database's tables, as Kysely sees them: the one statement of each column's name and type
 * (migrations.ts creates exactly these). Column names are snake_case, as in the database; the
 * repositories hand camelCase objects to the rest of the server.
 *
 * Types that mean the same on SQLite and Postgres only: text and integer. Timestamps are ISO-8601
 * UTC strings (`new Date().toISOString()`, fixed width) and ids are a prefix plus a ULID, so text
 * order is time order on both, whatever the database's collation (digits, upper-case letters and
 * fixed punctuation in fixed places compare the same under C and the usual locales).
 * Booleans are integers 0/1; JSON documents are text (parsed by the repository, never queried into).
 */

/** The event log: every stored event's envelope, in `id` order. */
export interface EventsTable {
  id: string;
  /** null for a server-wide event that belongs to no session. */
  session: string | null;
  event: string;
  timestamp: string;
  /** The envelope as JSON text. */
  envelope: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event to one webhook: its attempts and fate. */
export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  event: string;
  session: string | null;
  /** A stable key of the target (sha256 of url + source, 16 hex): one ordered queue per (webhook, session). */
  webhook: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  /** When a pending delivery may next be tried; null once delivered or failed. */
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

/** Message history: the latest state of each message of each session. */
export interface MessagesTable {
  session: string;
  id: string;
  chat_id: string;
  /** 0 or 1. */
  from_me: number;
  timestamp: string;
  ack: number;
  /** The API message as JSON text. */
  message: string;
  /** A sortable id given by the writer (the id of the event that stored it). */
  seq: string;
}

/** The first answer to each `Idempotency-Key` of a session. */
export interface IdempotencyKeysTable {
  session: string;
  key: string;
  request_hash: string;
  status: number;
  /** The response body as JSON text. */
  response: string;
  created_at: string;
}

/** Where a queued send is: waiting (`queued`, `sending`) or ended (the other three). */
export const SEND_JOB_STATUSES = ['queued', 'sending', 'sent', 'failed', 'cancelled'] as const;
export type SendJobStatus = (typeof SEND_JOB_STATUSES)[number];

/** One send waiting its turn in a session's paced queue, or how it ended. */
export interface SendJobsTable {
  /** `job_` + a ULID. */
  id: string;
  session: string;
  /** The session's queue order: 1, 2, 3… given at insert (never a timestamp: clocks go back). */
  seq: number;
  /** The worker operation (`sendText`, `sendMedia`…). */
  op: string;
  chat_id: string;
  /** The operation's parameters as JSON text. */
  params: string;
  status: SendJobStatus;
  /** 0 or 1: a first message to a chat that never wrote to the session (the daily limit counts these). */
  new_chat: number;
  error: string | null;
  /** The error's code from the catalogue (src/errors.ts), kept so a failure reads the same later. */
  error_code: string | null;
  /** What was sent (`{messageId, chatId, timestamp}`) as JSON text, once sent. */
  result: string | null;
  created_at: string;
  /** When its latest send began; null while it never began (or was put back in the queue). */
  started_at: string | null;
  /** When it was sent, failed or was cancelled. */
  finished_at: string | null;
}

/*
 * Cluster mode's tables (migration 004). They are used only on Postgres, where their times are
 * timestamptz columns of the database's clock (pg reads them as Date); on SQLite they exist, unused.
 * src/store/leases.ts reads and writes them with SQL text, so these types document more than drive.
 */

/** One server of the cluster, as it last said (each renew tick says it again). */
export interface ClusterNodesTable {
  id: string;
  /** How the other nodes reach this one (`--node-url`). */
  url: string;
  max_sessions: number;
  /** How many leases its latest renew tick renewed. */
  running: number;
  /** 0 or 1: handing its sessions over (SIGTERM); takes no more. */
  draining: number;
  started_at: Date;
  last_seen: Date;
}

/** Which node runs each session, until when, and under which fence. */
export interface SessionLeasesTable {
  session: string;
  node: string;
  /** 1, 2, 3…: a new value each time a new holding begins (a takeover, or a lease that had lapsed). */
  fence: number;
  /** null: released for good; otherwise the database time after which another node may take it. */
  expires_at: Date | null;
  acquired_at: Date;
  /** When its holder let it go; null while held, or when it lapsed without being let go. */
  released_at: Date | null;
}

export const LEASE_ACTIONS = ['acquired', 'expired-takeover', 'released', 'lost'] as const;
export type LeaseAction = (typeof LEASE_ACTIONS)[number];

/**
 * Every holding's start ('acquired', or 'expired-takeover' when another node's lapsed lease was
 * taken) and end ('released', or 'lost': the lease lapsed; `at` is then when it expired).
 */
export interface LeaseHistoryTable {
  id: Generated<number>;
  session: string;
  node: string;
  fence: number;
  action: LeaseAction;
  at: Date;
}

export interface Database {
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  messages: MessagesTable;
  idempotency_keys: IdempotencyKeysTable;
  send_jobs: SendJobsTable;
  cluster_nodes: ClusterNodesTable;
  session_leases: SessionLeasesTable;
  lease_history: LeaseHistoryTable;
}
