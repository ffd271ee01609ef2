import type { SessionManager } from '../../sessions/manager.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sessionParams } from '../schemas.js';
import { pairingCodeSchema, requestCodeBody } from '../send-schemas.js';

const base = '/api/v1/sessions/:id';

/** Linking a phone by the code it is given, instead of the QR code. */
export function pairingRoutes(manager: SessionManager): RouteDef[] {
  return [
    route({
      method: 'post',
      path: `${base}/auth/request-code`,
      operationId: 'requestPairingCode',
      summary: 'Link by phone number: a code to enter on the phone instead of scanning the QR code',
      description:
        'Only while the session is `qr_ready`. The phone: Linked devices → Link a device → "Link with phone number instead", then the code. ' +
        'The `session.pairing_code` event carries it too. A wa-automate session is launched again for it (a few seconds); the sandbox answers at once.',
      tags: ['Sessions'],
      params: sessionParams,
      body: requestCodeBody,
      success: { status: 200, description: 'the code', schema: envelope(pairingCodeSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'NOT_SUPPORTED_BY_ENGINE', 'ENGINE_ERROR'],
      handler: async ({ params, body }) => ({ data: await manager.managed(params.id).requestPairingCode(body.phoneNumber) }),
    }),
  ];
}
