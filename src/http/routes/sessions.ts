import { z } from 'zod';
import { AppError, type ErrorCode } from '../../errors.js';
import type { SessionManager } from '../../sessions/manager.js';
import {
  createdSessionSchema,
  logEntrySchema,
  qrResourceSchema,
  sessionResourceSchema,
  statusResourceSchema,
  type QrResource,
  type StatusResource,
} from '../../sessions/resource.js';
import type { Session } from '../../sessions/session.js';
import { route, type RouteDef } from '../route.js';
import {
  createSessionBody,
  envelope,
  listSessionsQuery,
  logsQuery,
  patchSessionBody,
  sessionParams,
} from '../schemas.js';

const base = '/api/v1/sessions';
const tags = ['Sessions'];
function requireQr(session: Session): QrResource {
  const qr = session.qr;
  if (!qr) {
    const hint =
      session.status === 'ready' || session.status === 'authenticated'
        ? 'it is already linked'
        : session.status === 'stopped' || session.status === 'failed'
          ? 'start it first'
          : 'wait for the next one';
    throw new AppError('QR_NOT_AVAILABLE', `session "${session.id}" has no QR code waiting (status ${session.status}): ${hint}`, {
      status: session.status,
    });
  }
  return qr;
}

const LIFECYCLE_ERRORS = {
  start: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'MAX_SESSIONS_REACHED', 'ENGINE_ERROR', 'SHUTTING_DOWN', 'INSUFFICIENT_STORAGE'],
  restart: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'MAX_SESSIONS_REACHED', 'ENGINE_ERROR', 'SHUTTING_DOWN', 'INSUFFICIENT_STORAGE'],
  stop: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'INSUFFICIENT_STORAGE'],
  logout: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'INSUFFICIENT_STORAGE'],
} satisfies Record<string, ErrorCode[]>;

export function sessionRoutes(manager: SessionManager): RouteDef[] {
  const lifecycle = (action: 'start' | 'stop' | 'restart' | 'logout', summary: string): RouteDef =>
    route({
      method: 'post',
      path: `${base}/:id/${action}`,
      operationId: `${action}Session`,
      summary,
      tags,
      params: sessionParams,
      success: { status: 200, description: 'the session after the action', schema: envelope(sessionResourceSchema) },
      errors: LIFECYCLE_ERRORS[action],
      handler: async ({ params }) => ({ data: (await manager.managed(params.id)[action]()).toJSON() }),
    });

  return [
    route({
      method: 'post',
      path: base,
      operationId: 'createSession',
      summary: 'Create a session (and start it)',
      description:
        'With `waitForQR: true` the answer comes once the first QR code is there (then `data.qr` holds it), or the session is ready or failed, or `qrTimeout` passes.',
      tags,
      body: createSessionBody,
      success: { status: 201, description: 'the new session', schema: envelope(createdSessionSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_EXISTS', 'MAX_SESSIONS_REACHED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA', 'ENGINE_ERROR', 'SHUTTING_DOWN', 'INSUFFICIENT_STORAGE'],
      handler: async ({ body }) => {
        const managed = await manager.create({ sessionId: body.sessionId, start: body.start, config: body.config });
        if (body.waitForQR && body.start !== false) {
          const session = await managed.waitForQr();
          return { status: 201, data: { ...session.toJSON(), qr: session.qr } };
        }
        return { status: 201, data: managed.session.toJSON() };
      },
    }),
    route({
      method: 'get',
      path: base,
      operationId: 'listSessions',
      summary: 'List sessions',
      tags,
      query: listSessionsQuery,
      success: { status: 200, description: 'every session, or those with the given status', schema: envelope(z.array(sessionResourceSchema)) },
      errors: ['VALIDATION_ERROR'],
      handler: ({ query }) => ({ data: manager.list(query.status).map((s) => s.toJSON()) }),
    }),
    route({
      method: 'get',
      path: `${base}/:id`,
      operationId: 'getSession',
      summary: 'Get one session, its config included (passwords masked)',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'the session', schema: envelope(sessionResourceSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: ({ params }) => ({ data: manager.get(params.id).toJSON() }),
    }),
    route({
      method: 'patch',
      path: `${base}/:id`,
      operationId: 'updateSession',
      summary: 'Change config keys (null removes one); applies on the next start',
      tags,
      params: sessionParams,
      body: patchSessionBody,
      success: { status: 200, description: 'the session with its new config', schema: envelope(sessionResourceSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'ENGINE_MISMATCH', 'INSUFFICIENT_STORAGE'],
      handler: async ({ params, body }) => ({ data: (await manager.managed(params.id).update(body.config)).toJSON() }),
    }),
    route({
      method: 'delete',
      path: `${base}/:id`,
      operationId: 'deleteSession',
      summary: 'Stop a session, end its processes and delete its folder',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'deleted', schema: envelope(z.object({ sessionId: z.string(), deleted: z.literal(true) })) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'INSUFFICIENT_STORAGE'],
      handler: async ({ params }) => {
        await manager.delete(params.id);
        return { data: { sessionId: params.id, deleted: true }, message: `session ${params.id} deleted` };
      },
    }),
    route({
      method: 'get',
      path: `${base}/:id/status`,
      operationId: 'getSessionStatus',
      summary: 'Get a session status',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'the status', schema: envelope(statusResourceSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: ({ params }) => {
        const s = manager.get(params.id);
        const status: StatusResource = { sessionId: s.id, status: s.status, lastActivity: s.lastActivity, error: s.error };
        return { data: status };
      },
    }),
    route({
      method: 'get',
      path: `${base}/:id/qr`,
      operationId: 'getSessionQr',
      summary: 'Get the QR code waiting to be scanned',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'the QR code', schema: envelope(qrResourceSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'QR_NOT_AVAILABLE'],
      handler: ({ params }) => ({ data: requireQr(manager.get(params.id)) }),
    }),
    route({
      method: 'get',
      path: `${base}/:id/qr/image`,
      operationId: 'getSessionQrImage',
      summary: 'Get the QR code as a PNG image',
      tags,
      params: sessionParams,
      success: { status: 200, description: 'the QR code', contentType: 'image/png' },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'QR_NOT_AVAILABLE'],
      handler: async ({ params, res }) => {
        const qr = requireQr(manager.get(params.id));
        const comma = qr.qrCode.indexOf(',');
        const png = qr.qrCode.startsWith('data:image/png;base64,')
          ? Buffer.from(qr.qrCode.slice(comma + 1), 'base64')
          : await (await import('qrcode')).default.toBuffer(qr.qrData, { type: 'png', margin: 2, width: 264 });
        res.status(200).type('image/png').set('Cache-Control', 'no-store').send(png);
        return undefined;
      },
    }),
    lifecycle('start', 'Start a session (a no-op when it runs)'),
    lifecycle('stop', 'Stop a session; it stays on disk'),
    lifecycle('restart', 'Stop and start a session, applying its current config'),
    lifecycle('logout', 'Unlink the device and clear its login data; the session stops'),
    route({
      method: 'get',
      path: `${base}/:id/logs`,
      operationId: 'getSessionLogs',
      summary: "A session's recent log lines, newest last",
      tags,
      params: sessionParams,
      query: logsQuery,
      success: { status: 200, description: 'log lines', schema: envelope(z.array(logEntrySchema)) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: ({ params, query }) => ({ data: manager.get(params.id).logs(query.limit ?? 200) }),
    }),
  ];
}
