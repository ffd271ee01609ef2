import { AppError } from '../errors.js';
import { newEventId, type Envelope } from '../events/envelope.js';
import type { SessionManager } from '../sessions/manager.js';
import type { Delivery, DeliveryStore, DeliveryStatus } from '../store/deliveries.js';
import { maskCredentialsInUrl, maskSecrets } from '../util/redact.js';
import type { WebhookDispatcher } from './dispatcher.js';
import type { WebhookSource, WebhookTargets } from './targets.js';

/** A delivery as the API shows it (API.md "Webhooks"). */
export type DeliveryView = Omit<Delivery, 'webhook'>;

/** One webhook's answer to a test event. */
export interface WebhookTestResult {
  url: string;
  source: WebhookSource;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

/** Thrown when a delivery that is not failed is sent again (the route answers 409). */
export class DeliveryNotFailedError extends Error {
  override name = 'DeliveryNotFailedError';
}

export interface WebhookServiceDeps {
  manager: SessionManager;
  deliveries: DeliveryStore;
  dispatcher: WebhookDispatcher;
  targets: WebhookTargets;
}

/** What the webhook routes do: list deliveries, send a failed one again, test a session's webhooks. */
export class WebhookService {
  readonly #deps: WebhookServiceDeps;

  constructor(deps: WebhookServiceDeps) {
    this.#deps = deps;
  }

  async list(opts: { session?: string | undefined; status?: DeliveryStatus | undefined; limit: number }): Promise<DeliveryView[]> {
    const rows = await this.#deps.deliveries.list(opts);
    return rows.map(view);
  }

  /** A failed delivery becomes pending again, with a fresh attempt budget, and is sent at once (in its queue's order). */
  async retry(id: string): Promise<DeliveryView> {
    const { deliveries, dispatcher } = this.#deps;
    if (!(await deliveries.retry(id))) {
      const existing = await deliveries.get(id);
      if (!existing) throw new AppError('NOT_FOUND', `there is no delivery "${id}"`);
      throw new DeliveryNotFailedError(`delivery "${id}" is ${existing.status}: only a failed delivery can be sent again`);
    }
    const delivery = await deliveries.get(id);
    if (!delivery) throw new AppError('NOT_FOUND', `there is no delivery "${id}"`);
    dispatcher.kick(delivery.webhook, delivery.session, true);
    return view(delivery);
  }

  /**
   * Posts a `webhook.test` envelope to each of the session's webhooks (the server-wide ones and its
   * own) at once, outside the queues and the database, and answers how each one took it.
   */
  async test(sessionId: string): Promise<WebhookTestResult[]> {
    const session = this.#deps.manager.get(sessionId);
    const envelope: Envelope<{ sessionId: string }> = {
      id: newEventId(),
      timestamp: new Date().toISOString(),
      event: 'webhook.test',
      session: session.id,
      engine: session.engine,
      me: session.me,
      payload: { sessionId: session.id },
    };
    const body = JSON.stringify(envelope);
    const targets = this.#deps.targets.forSession(session.id);
    return Promise.all(
      targets.map(async (target) => {
        const result = await this.#deps.dispatcher.sender.send(target, envelope.id, body);
        return {
          url: maskCredentialsInUrl(target.url),
          source: target.source,
          ok: result.outcome === 'delivered',
          statusCode: result.statusCode,
          error: result.error,
        };
      }),
    );
  }
}

function view(delivery: Delivery): DeliveryView {
  const { webhook: _webhook, ...rest } = delivery;
  return { ...rest, url: maskCredentialsInUrl(rest.url), lastError: rest.lastError === null ? null : maskSecrets(rest.lastError) };
}
