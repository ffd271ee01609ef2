import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ManagerEvents, SessionManager } from '../sessions/manager.js';
import { ackName, incomingResource } from '../sessions/messages.js';
import type { EventBus, EventInput } from './bus.js';

/**
 * Turns what the sessions do into envelopes on the bus. `session.log` lines are SSE-only; every
 * other event is stored before anyone hears of it (the bus's store step).
 */
export interface SessionEventsOptions {
  publicUrl: string;
  logger: Logger;
  /** A deleted session's rows (messages, events, deliveries...) go before its session.deleted event is published. */
  forget(sessionId: string): Promise<void>;
}

export function publishSessionEvents(manager: SessionManager, bus: EventBus, opts: SessionEventsOptions): () => void {
  const identity = (sessionId: string): Pick<EventInput, 'session' | 'engine' | 'me'> => {
    // One map lookup per event (this runs for every message); a session deleted meanwhile has none.
    const session = manager.find(sessionId);
    return { session: sessionId, engine: session?.engine ?? null, me: session?.me ?? null };
  };
  const publish = (input: EventInput): void => {
    bus.publish(input).catch((err: unknown) => opts.logger.error(`could not store the ${input.event} event of ${String(input.session)}: ${describeError(err)}`));
  };
  const handlers: { [K in keyof ManagerEvents]?: (...args: ManagerEvents[K]) => void } = {
    created: (session) => publish({ event: 'session.created', session: session.sessionId, engine: session.engine, me: session.me, payload: session }),
    deleted: ({ sessionId }) => {
      // Events of the session still queued on the bus are stored first, then everything goes.
      bus
        .idle()
        .then(() => opts.forget(sessionId))
        .catch((err: unknown) => opts.logger.error(`could not delete the stored rows of session ${sessionId}: ${describeError(err)}`))
        .finally(() => publish({ event: 'session.deleted', session: sessionId, engine: null, me: null, payload: { sessionId } }));
    },
    status: (change) =>
      publish({
        event: 'session.status',
        session: change.sessionId,
        engine: change.session.engine,
        me: change.session.me,
        payload: { status: change.status, previous: change.previous, error: change.error, me: change.session.me, session: change.session },
      }),
    qr: ({ sessionId, ...qr }) => publish({ event: 'session.qr', ...identity(sessionId), payload: qr }),
    pairing_code: ({ sessionId, ...code }) => publish({ event: 'session.pairing_code', ...identity(sessionId), payload: code }),
    log: ({ sessionId, ...entry }) => publish({ event: 'session.log', ...identity(sessionId), payload: entry }),
    message: ({ sessionId, message }) => publish({ event: 'message', ...identity(sessionId), payload: incomingResource(sessionId, message, opts.publicUrl) }),
    sent: ({ sessionId, message }) => publish({ event: 'message.sent', ...identity(sessionId), payload: message }),
    ack: ({ sessionId, messageId, chatId, ack }) =>
      publish({ event: 'message.ack', ...identity(sessionId), payload: { messageId, chatId, ack, ackName: ackName(ack) } }),
  };
  const offs = Object.entries(handlers).map(([event, handler]) =>
    manager.on(event as keyof ManagerEvents, handler as (...args: unknown[]) => void),
  );
  return () => {
    for (const off of offs) off();
  };
}
