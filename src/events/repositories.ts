import type { Kysely } from 'kysely';
import type { MessageResource } from '../sessions/resource.js';
import { DeliveryStore } from '../store/deliveries.js';
import { EventLog } from '../store/events.js';
import { IdempotencyStore } from '../store/idempotency.js';
import { MessageStore } from '../store/messages.js';
import { SendJobStore } from '../store/send-jobs.js';
import type { Database } from '../store/schema.js';
import type { Envelope } from './envelope.js';

/** The repositories the services and routes are handed (built once, in the CLI's wiring). */
export interface Repositories {
  events: EventLog<Envelope>;
  deliveries: DeliveryStore;
  messages: MessageStore<MessageResource>;
  idempotency: IdempotencyStore;
  /** Queued sends. */
  jobs: SendJobStore;
}

export function repositories(db: Kysely<Database>): Repositories {
  return {
    events: new EventLog<Envelope>(db),
    deliveries: new DeliveryStore(db),
    messages: new MessageStore<MessageResource>(db),
    idempotency: new IdempotencyStore(db),
    jobs: new SendJobStore(db),
  };
}

/** Everything stored about one session, gone (its folder, media included, goes with DELETE). */
export async function forgetSession(repos: Repositories, sessionId: string): Promise<void> {
  await repos.messages.deleteSession(sessionId);
  await repos.idempotency.deleteSession(sessionId);
  await repos.deliveries.deleteSession(sessionId);
  await repos.events.deleteSession(sessionId);
}
