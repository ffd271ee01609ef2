import type { GroupMetadata, GroupParticipant } from '@whiskeysockets/baileys';
import type { GroupInfo } from '../types.js';
import { chatIdOf } from './jid.js';

/** Groups as Baileys reads them (Socket/groups.js extractGroupMetadata) and as the API shows them. */

/**
 * A member's id: by phone number when WhatsApp gives one (`jid`: the member's own id when it is a
 * number, else the `phone_number` WhatsApp sent beside a linked id), else the linked id.
 */
export function memberId(p: GroupParticipant): string | null {
  return chatIdOf(p.jid) ?? chatIdOf(p.id);
}

/** `admin` is WhatsApp's participant type: "admin", "superadmin" (the creator) or none. */
function isAdmin(p: GroupParticipant): boolean {
  return p.admin === 'admin' || p.admin === 'superadmin' || p.isAdmin === true || p.isSuperAdmin === true;
}

function isoOf(seconds: number | undefined): string | null {
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
}

export function toGroupInfo(meta: GroupMetadata): GroupInfo {
  const participants = meta.participants.flatMap((p) => {
    const id = memberId(p);
    return id ? [{ id, isAdmin: isAdmin(p) }] : [];
  });
  return { id: chatIdOf(meta.id) ?? meta.id, name: meta.subject ?? '', participants, createdAt: isoOf(meta.creation) };
}

/**
 * What WhatsApp answers for each participant of an add or a remove (groupParticipantsUpdate:
 * `{ status, jid }`, status the error code of the participant's node, "200" when none). Someone
 * already in (add: 409) or already out (remove: 404) leaves the group as asked: no refusal.
 */
const REFUSALS: Record<string, string> = {
  '401': 'this account is not an admin of the group',
  '403': 'their privacy settings do not let this account add them: send them the invite link',
  '408': 'they left the group recently',
  '500': 'the group is full',
};

export function refusalOf(action: 'add' | 'remove', status: string): string | null {
  if (status === '200' || (action === 'add' && status === '409') || (action === 'remove' && status === '404')) return null;
  if (action === 'remove' && status === '403') return 'this account is not an admin of the group';
  return REFUSALS[status] ?? `WhatsApp answered ${status}`;
}
