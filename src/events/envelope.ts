import { idFactory } from '../util/ids.js';
import type { EngineName, Me } from '../engines/types.js';

/** Every event name, with whether it is stored (logged, replayed on resume, webhooked). */
export const EVENTS = {
  'session.created': true,
  'session.deleted': true,
  'session.status': true,
  'session.qr': true,
  'session.pairing_code': true,
  message: true,
  'message.queued': true,
  'message.sent': true,
  'message.failed': true,
  'message.ack': true,
  'session.log': false,
} as const;
export type EventName = keyof typeof EVENTS;
export const STORED_EVENTS = (Object.keys(EVENTS) as EventName[]).filter((name) => EVENTS[name]);

/** One event, the same object on the event stream, to webhooks and in the log. */
export interface Envelope<P = unknown> {
  /** `evt_` + a ULID: unique, and sortable by time (monotonic within this process). */
  id: string;
  timestamp: string;
  event: EventName | 'webhook.test';
  session: string | null;
  engine: EngineName | null;
  me: Me | null;
  payload: P;
}

export const newEventId = idFactory('evt');

export function isStored(event: string): boolean {
  return (EVENTS as Record<string, boolean>)[event] === true;
}

/** An event id as clients send it back (Last-Event-ID, ?after=): evt_ and 26 Crockford base32 characters. */
export const EVENT_ID_PATTERN = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;
