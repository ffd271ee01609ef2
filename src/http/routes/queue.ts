import { z } from 'zod';
import { sessionIdSchema } from '../../sessions/config.js';
import type { SessionManager } from '../../sessions/manager.js';
import { JOB_STATUSES, type SendJob, type SendQueue } from '../../sessions/send-queue.js';
import { jobType } from '../../sessions/sending.js';
import { SEND_OPS } from '../../worker/protocol.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sentSchema, sessionParams } from '../schemas.js';

const base = '/api/v1/sessions/:id';


export const jobSchema = z
  .object({
    jobId: z.string(),
    op: z.enum(SEND_OPS),
    type: z.string().meta({ description: 'what it sends: text, image, file, video, voice, audio, location, contact or reaction' }),
    chatId: z.string(),
    status: z.enum(JOB_STATUSES),
    position: z.number().int().nullable().meta({ description: 'its place among the waiting sends (1: next); null once not waiting' }),
    newChat: z.boolean().meta({ description: 'to a chat that never wrote to this session (counts against dailyNewChatLimit)' }),
    error: z.string().nullable(),
    errorCode: z.string().nullable().meta({ description: 'the error code a failed send ended with (e.g. RECIPIENT_NOT_A_CONTACT, SEND_LIMITED)' }),
    result: sentSchema.nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'SendJob' });

/** A job as clients see it: never its parameters (a file's place on disk is the server's business). */
function jobResource(job: SendJob): z.infer<typeof jobSchema> {
  return {
    jobId: job.jobId,
    op: job.op,
    type: jobType(job),
    chatId: job.chatId,
    status: job.status,
    position: job.position,
    newChat: job.newChat,
    error: job.error,
    errorCode: job.errorCode,
    result: job.result,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

const jobParams = z.object({
  id: sessionIdSchema,
  jobId: z.string().regex(/^job_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a job id such as job_01JDX3J6Q8R5W2V7Y9Z0ABCDEF'),
});

/** The session's send queue. */
export function queueRoutes(manager: SessionManager, queue: SendQueue): RouteDef[] {
  return [
    route({
      method: 'get',
      path: `${base}/queue`,
      operationId: 'listQueue',
      summary: 'The sends waiting in the session\'s queue (and the one being sent), in the order they go',
      tags: ['Send queue'],
      params: sessionParams,
      success: { status: 200, description: 'waiting sends', schema: envelope(z.array(jobSchema)) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: async ({ params }) => {
        manager.get(params.id);
        return { data: (await queue.list(params.id)).map(jobResource) };
      },
    }),
    route({
      method: 'get',
      path: `${base}/queue/:jobId`,
      operationId: 'getQueuedSend',
      summary: 'One queued send, in any state: waiting, being sent, sent (with its answer), failed (with why) or cancelled',
      tags: ['Send queue'],
      params: jobParams,
      success: { status: 200, description: 'the job', schema: envelope(jobSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'NOT_FOUND'],
      handler: async ({ params }) => {
        manager.get(params.id);
        return { data: jobResource(await queue.get(params.id, params.jobId)) };
      },
    }),
    route({
      method: 'delete',
      path: `${base}/queue/:jobId`,
      operationId: 'cancelQueuedSend',
      summary: 'Cancel a send still waiting in the queue',
      tags: ['Send queue'],
      params: jobParams,
      success: { status: 200, description: 'cancelled', schema: envelope(jobSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'NOT_FOUND', 'JOB_NOT_CANCELLABLE'],
      handler: async ({ params }) => {
        manager.get(params.id);
        return { data: jobResource(await queue.cancel(params.id, params.jobId)) };
      },
    }),
  ];
}
