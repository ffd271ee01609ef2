import { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import type { SessionManager } from '../../sessions/manager.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sessionParams } from '../schemas.js';
import {
  contactParams,
  contactSchema,
  createGroupBody,
  groupParams,
  groupSchema,
  inviteCodeSchema,
  numberStatusSchema,
  participantsBody,
} from '../send-schemas.js';

const base = '/api/v1/sessions/:id';
const errors: ErrorCode[] = ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'NOT_SUPPORTED_BY_ENGINE', 'ENGINE_ERROR'];
const withNotFound: ErrorCode[] = [...errors, 'NOT_FOUND'];

/** Who is on WhatsApp, and the session's groups: asked of the session's WhatsApp account. */
export function contactRoutes(manager: SessionManager): RouteDef[] {
  return [
    route({
      method: 'get',
      path: `${base}/contacts/:contactId/exists`,
      operationId: 'contactExists',
      summary: 'Whether a phone number is on WhatsApp, and the chat id to write to it',
      tags: ['Contacts'],
      params: contactParams,
      success: { status: 200, description: 'the answer', schema: envelope(numberStatusSchema) },
      errors,
      handler: async ({ params }) => ({ data: await manager.managed(params.id).ask('checkNumber', { contactId: params.contactId }) }),
    }),
    route({
      method: 'get',
      path: `${base}/contacts/:contactId`,
      operationId: 'getContact',
      summary: 'A contact: its name on this account, its own (push) name, whether it is a business',
      tags: ['Contacts'],
      params: contactParams,
      success: { status: 200, description: 'the contact', schema: envelope(contactSchema) },
      errors: withNotFound,
      handler: async ({ params }) => ({ data: await manager.managed(params.id).ask('getContact', { contactId: params.contactId }) }),
    }),
    route({
      method: 'get',
      path: `${base}/groups`,
      operationId: 'listGroups',
      summary: 'The groups this account is in',
      tags: ['Groups'],
      params: sessionParams,
      success: { status: 200, description: 'groups', schema: envelope(z.array(groupSchema)) },
      errors,
      handler: async ({ params }) => ({ data: await manager.managed(params.id).ask('listGroups', null) }),
    }),
    route({
      method: 'post',
      path: `${base}/groups`,
      operationId: 'createGroup',
      summary: 'Create a group with these participants (this account is its admin)',
      tags: ['Groups'],
      params: sessionParams,
      body: createGroupBody,
      success: { status: 201, description: 'the new group', schema: envelope(groupSchema) },
      errors,
      handler: async ({ params, body }) => ({ status: 201, data: await manager.managed(params.id).ask('createGroup', body) }),
    }),
    route({
      method: 'get',
      path: `${base}/groups/:groupId`,
      operationId: 'getGroup',
      summary: 'A group, with its participants and admins',
      tags: ['Groups'],
      params: groupParams,
      success: { status: 200, description: 'the group', schema: envelope(groupSchema) },
      errors: withNotFound,
      handler: async ({ params }) => ({ data: await manager.managed(params.id).ask('getGroup', { groupId: params.groupId }) }),
    }),
    ...(['add', 'remove'] as const).map((action) =>
      route({
        method: 'post',
        path: `${base}/groups/:groupId/participants/${action}`,
        operationId: action === 'add' ? 'addGroupParticipants' : 'removeGroupParticipants',
        summary: action === 'add' ? 'Add participants to a group (this account must be an admin)' : 'Remove participants from a group (this account must be an admin)',
        tags: ['Groups'],
        params: groupParams,
        body: participantsBody,
        success: { status: 200, description: 'the group after the change', schema: envelope(groupSchema) },
        errors: withNotFound,
        handler: async ({ params, body }) => ({
          data: await manager.managed(params.id).ask('changeParticipants', { groupId: params.groupId, action, participants: body.participants }),
        }),
      }),
    ),
    route({
      method: 'get',
      path: `${base}/groups/:groupId/invite-code`,
      operationId: 'getGroupInviteCode',
      summary: "A group's invite code and link",
      tags: ['Groups'],
      params: groupParams,
      success: { status: 200, description: 'the invite', schema: envelope(inviteCodeSchema) },
      errors: withNotFound,
      handler: async ({ params }) => ({ data: await manager.managed(params.id).ask('groupInviteCode', { groupId: params.groupId }) }),
    }),
  ];
}
