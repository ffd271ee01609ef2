import { AppError } from '../../errors.js';
import type { Repositories } from '../../events/repositories.js';
import type { SessionManager } from '../../sessions/manager.js';
import { decodeMedia, fileType, sniffImage, toDataUrl } from '../media.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sendFileBody, sendImageBody, sendTextBody, sentSchema, sessionParams } from '../schemas.js';

const base = '/api/v1/sessions/:id';
const tags = ['Messaging'];
const sendErrors = [
  'VALIDATION_ERROR',
  'SESSION_NOT_FOUND',
  'SESSION_NOT_READY',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA',
  'RECIPIENT_NOT_A_CONTACT',
  'ENGINE_ERROR',
] as const;

export function messageRoutes(manager: SessionManager, _repos: Repositories): RouteDef[] {
  return [
    route({
      method: 'post',
      path: `${base}/send-text`,
      operationId: 'sendText',
      summary: 'Send a text message',
      tags,
      params: sessionParams,
      body: sendTextBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: [...sendErrors],
      sends: true,
      handler: async ({ params, body }) => ({
        data: await manager.managed(params.id).send('sendText', { chatId: body.chatId, content: body.content, quotedMessageId: body.quotedMessageId }),
      }),
    }),
    route({
      method: 'post',
      path: `${base}/send-image`,
      operationId: 'sendImage',
      summary: 'Send an image (PNG, JPEG, GIF or WebP, checked by its bytes)',
      tags,
      params: sessionParams,
      body: sendImageBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: [...sendErrors],
      sends: true,
      handler: async ({ params, body }) => {
        const decoded = decodeMedia(body.data);
        const mimetype = sniffImage(decoded.buffer);
        if (!mimetype) {
          throw new AppError('UNSUPPORTED_MEDIA', 'data is not a PNG, JPEG, GIF or WebP image (checked by its bytes); send other files with send-file');
        }
        return {
          data: await manager.managed(params.id).send('sendImage', {
            chatId: body.chatId,
            dataUrl: toDataUrl(decoded.buffer, mimetype),
            mimetype,
            filename: body.filename,
            caption: body.caption,
            quotedMessageId: body.quotedMessageId,
          }),
        };
      },
    }),
    route({
      method: 'post',
      path: `${base}/send-file`,
      operationId: 'sendFile',
      summary: 'Send any file as a document',
      tags,
      params: sessionParams,
      body: sendFileBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: [...sendErrors],
      sends: true,
      handler: async ({ params, body }) => {
        const decoded = decodeMedia(body.data);
        const mimetype = fileType(decoded, body.filename);
        return {
          data: await manager.managed(params.id).send('sendFile', {
            chatId: body.chatId,
            dataUrl: toDataUrl(decoded.buffer, mimetype),
            mimetype,
            filename: body.filename,
            caption: body.caption,
            quotedMessageId: body.quotedMessageId,
          }),
        };
      },
    }),
  ];
}
