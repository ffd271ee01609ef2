import { z } from 'zod';
import type { SandboxIncoming } from '../../engines/types.js';
import type { SessionManager } from '../../sessions/manager.js';
import { decodeMedia, incomingMediaType } from '../media.js';
import { route, type RouteDef } from '../route.js';
import { sessionResourceSchema } from '../../sessions/resource.js';
import { envelope, incomingBody, incomingMessageSchema, outboxEntrySchema, sessionParams } from '../schemas.js';
import { scanBody } from '../send-schemas.js';

const base = '/api/v1/sessions/:id/sandbox';
const tags = ['Sandbox'];

export function sandboxRoutes(manager: SessionManager): RouteDef[] {
  return [
    route({
      method: 'post',
      path: `${base}/scan`,
      operationId: 'sandboxScan',
      summary: 'Sandbox: the simulated phone scans the QR code, or enters the pairing code',
      tags,
      params: sessionParams,
      body: scanBody,
      success: { status: 200, description: 'scanned: the answer comes once the session is ready (or failed)', schema: envelope(sessionResourceSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'QR_NOT_AVAILABLE', 'ENGINE_MISMATCH', 'ENGINE_ERROR'],
      handler: async ({ params, body }) => ({ data: (await manager.managed(params.id).sandboxScan(body.code)).toJSON() }),
    }),
    route({
      method: 'post',
      path: `${base}/incoming`,
      operationId: 'sandboxIncoming',
      summary: 'Sandbox: a contact writes to the session, a text or a file (emits a message event)',
      tags,
      params: sessionParams,
      body: incomingBody,
      success: { status: 200, description: 'the message as the session received it', schema: envelope(incomingMessageSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'ENGINE_MISMATCH', 'UNSUPPORTED_MEDIA', 'PAYLOAD_TOO_LARGE', 'ENGINE_ERROR'],
      handler: async ({ params, body }) => {
        let media: SandboxIncoming['media'];
        if (body.media) {
          const decoded = decodeMedia(body.media.data, 'body.media.data');
          media = {
            base64: decoded.buffer.toString('base64'),
            mimetype: incomingMediaType(decoded, body.media.filename),
            filename: body.media.filename,
            caption: body.media.caption,
          };
        }
        const message = await manager.managed(params.id).sandboxIncoming({ from: body.from, content: body.content, media });
        // The file's place in the session's folder is the server's business, not the client's.
        const kept = message.media ? { mimetype: message.media.mimetype, filename: message.media.filename, size: message.media.size } : null;
        return { data: { ...message, media: kept } };
      },
    }),
    route({
      method: 'get',
      path: `${base}/outbox`,
      operationId: 'getSandboxOutbox',
      summary: 'Sandbox: what the session has sent (and marked seen, and shown as presence), oldest first',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'sent messages', schema: envelope(z.array(outboxEntrySchema)) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'ENGINE_MISMATCH'],
      handler: async ({ params }) => ({ data: await manager.managed(params.id).sandboxOutbox() }),
    }),
  ];
}
