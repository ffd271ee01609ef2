import { AppError, describeError } from '../../errors.js';
import type { CreateGroupRequest, GroupInfo, GroupParticipant, InviteCode, ParticipantsRequest } from '../types.js';
import { idOf, type WaId } from './mapping.js';
import type { WaChat, WaClient } from './open-wa.js';
import { cleanReason, licenceRefusal } from './refusals.js';
import { contactChatId } from './requests.js';
import type { Budget } from './within.js';

/** Groups through open-wa's group calls (api/Client.js 4.76.0), mapped to the API's GroupInfo. */

type Log = (message: string) => void;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

function notFound(groupId: string): AppError {
  return new AppError('NOT_FOUND', `no group ${groupId} among this account's chats`, { groupId });
}

function checkLicence(answer: unknown): void {
  const licence = licenceRefusal(answer);
  if (licence) throw licence;
}

function isoOf(seconds: unknown): string | null {
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
}

/** Group metadata's participants, when the page serialized them as an array (model toJSON). */
function participantsOf(raw: unknown): GroupParticipant[] {
  if (!Array.isArray(raw)) return [];
  const out: GroupParticipant[] = [];
  for (const p of raw as unknown[]) {
    if (!isObject(p)) continue;
    const id = idOf(p.id as WaId);
    if (id) out.push({ id, isAdmin: p.isAdmin === true || p.isSuperAdmin === true });
  }
  return out;
}

/** A group chat as the API's group: null for a chat that is no group. */
export function toGroupInfo(chat: WaChat): GroupInfo | null {
  const id = idOf(chat.id);
  if (!id || chat.isGroup === false || !id.endsWith('@g.us')) return null;
  const meta = chat.groupMetadata ?? null;
  return {
    id,
    name: chat.name || chat.formattedTitle || meta?.subject || '',
    participants: participantsOf(meta?.participants),
    createdAt: isoOf(meta?.creation),
  };
}

/** getAllGroups: the account's group chats, with what their metadata carries. */
export async function listGroups(client: WaClient, budget: Budget): Promise<GroupInfo[]> {
  const chats = await budget.call('getAllGroups()', () => client.getAllGroups());
  checkLicence(chats);
  if (!Array.isArray(chats)) throw new AppError('ENGINE_ERROR', 'WhatsApp Web did not list the groups (open-wa gave no list)');
  return chats.flatMap((chat) => {
    const info = isObject(chat) ? toGroupInfo(chat) : null;
    return info ? [info] : [];
  });
}

/**
 * The group's chat, or NOT_FOUND. getChatById is the call that answers `false` for a chat that
 * is not on this account (lib/wapi.js getChatById); the group calls themselves throw a TypeError
 * or wait on WhatsApp's server for a group that is not there.
 */
async function groupChat(client: WaClient, budget: Budget, groupId: string): Promise<GroupInfo> {
  const chat = await budget.call('getChatById()', () => client.getChatById(groupId));
  checkLicence(chat);
  const info = isObject(chat) ? toGroupInfo(chat) : null;
  if (!info) throw notFound(groupId);
  return info;
}

/**
 * A group with its members and admins. getChatById gives its name and creation (and says whether
 * it is there at all); getGroupMembersId and getGroupAdmins read WhatsApp's group metadata
 * (Store.GroupMetadata.find, from the server when not loaded) and answer serialized ids, which
 * the chat's own copy of the metadata may lack. getGroupInfo is not used: it exists only in
 * open-wa's downloaded patch, answers `any`, and is documented as a title and a description.
 */
export async function readGroup(client: WaClient, budget: Budget, groupId: string): Promise<GroupInfo> {
  const info = await groupChat(client, budget, groupId);
  const [members, admins] = await Promise.all([
    budget.call('getGroupMembersId()', () => client.getGroupMembersId(groupId)),
    budget.call('getGroupAdmins()', () => client.getGroupAdmins(groupId)),
  ]);
  checkLicence(members);
  checkLicence(admins);
  if (Array.isArray(members)) {
    const adminIds = Array.isArray(admins) ? admins.map((a) => idOf(a)) : info.participants.filter((p) => p.isAdmin).map((p) => p.id);
    const admin = new Set(adminIds);
    info.participants = members.flatMap((m) => {
      const id = idOf(m);
      return id ? [{ id, isAdmin: admin.has(id) }] : [];
    });
  }
  return info;
}

/** createGroup's per-participant codes (`[{ "<id>": { code } }]`, model/chat.d.ts), as id → code. */
function creationCodes(raw: unknown): Map<string, number> {
  const codes = new Map<string, number>();
  const entries = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  for (const entry of entries) {
    if (!isObject(entry)) continue;
    for (const [id, value] of Object.entries(entry)) {
      const code = isObject(value) ? value.code : value;
      if (typeof code === 'number') codes.set(id, code);
    }
  }
  return codes;
}

/**
 * createGroup, then the new group read back. Once WhatsApp has created it, nothing fails the
 * request any more (a retry would create a second group): a read-back that fails (WhatsApp Web may
 * not have the new chat yet) is answered from the creation's own answer.
 */
export async function createGroup(client: WaClient, budget: Budget, req: CreateGroupRequest, me: string | null, log: Log): Promise<GroupInfo> {
  const participants = req.participants.map(contactChatId);
  const created = await budget.call('createGroup()', () => client.createGroup(req.name, participants));
  checkLicence(created);
  if (typeof created !== 'object' || created === null) {
    const why = typeof created === 'string' ? cleanReason(created) : 'open-wa gave no answer';
    throw new AppError('ENGINE_ERROR', `WhatsApp did not create the group "${req.name}": ${why || 'open-wa refused it'}`);
  }
  const gid = idOf(created.gid);
  if (!gid || (created.status !== undefined && created.status !== 200)) {
    const why = created.status === 400 ? 'a participant is not on WhatsApp (status 400)' : `status ${String(created.status ?? 'unknown')}`;
    throw new AppError('ENGINE_ERROR', `WhatsApp did not create the group "${req.name}": ${why}`);
  }
  const codes = creationCodes(created.participants);
  const left = [...codes].filter(([, code]) => code !== 200).map(([id, code]) => `${id} (${code === 403 ? 'their privacy settings allow only an invitation' : `status ${String(code)}`})`);
  if (left.length > 0) log(`the group ${gid} was created without ${left.join(', ')}`);
  try {
    return await readGroup(client, budget, gid);
  } catch (err) {
    log(`the group ${gid} was created; reading it back failed (${describeError(err)}), answered from the creation`);
    const added = [...codes].filter(([, code]) => code === 200).map(([id]) => ({ id, isAdmin: false }));
    return {
      id: gid,
      name: req.name,
      participants: [...(me ? [{ id: me, isAdmin: true }] : []), ...added],
      createdAt: new Date().toISOString(),
    };
  }
}

/** addParticipant's status codes per participant (model/errors.d.ts AddParticipantErrorStatusCode). */
const ADD_REFUSALS: Record<number, string> = {
  403: 'their privacy settings do not let this account add them: send them the invite link',
  408: 'they left the group recently',
  500: 'the group is full',
};

/** open-wa's codes for a group change (Client.d.ts addParticipant, removeParticipant). */
const CODES: Record<string, string> = {
  INSUFFICIENT_PERMISSIONS: 'this account is not an admin of the group',
  NOT_A_CONTACT: "they are not among this account's contacts (open-wa adds only contacts it knows: save the number on the phone, or have them write first)",
};

/** The sentence for a refusal of one change, or null when the change is already so (nothing to do). */
function refusalOf(action: 'add' | 'remove', answer: unknown, groupId: string): string | null {
  if (answer === true) return null;
  if (typeof answer === 'string') {
    const code = answer.trim();
    if (code === 'GROUP_DOES_NOT_EXIST' || code === 'NOT_A_GROUP_CHAT') throw notFound(groupId);
    // Removing someone who is not there leaves the group as asked.
    if (action === 'remove' && code === 'NOT_A_PARTICIPANT') return null;
    return CODES[code] ?? (cleanReason(code) || 'open-wa refused it');
  }
  return 'open-wa answered false';
}

/** What addParticipant's AddParticipantError says, as refusals per participant (409: already in, fine). */
function addRefusals(err: unknown, ids: string[], groupId: string): string[] | null {
  if (!(err instanceof Error) || err.name !== 'ADD_PARTICIPANTS_ERROR') return null;
  const data = (err as Error & { data?: unknown }).data;
  if (isObject(data)) {
    return Object.entries(data).flatMap(([id, code]) => {
      if (code === 409 || code === 200) return [];
      return [`${id} (${typeof code === 'number' ? (ADD_REFUSALS[code] ?? `status ${String(code)}`) : String(code)})`];
    });
  }
  const why = refusalOf('add', err.message, groupId);
  return why ? [`${ids.join(', ')} (${why})`] : [];
}

/**
 * add: addParticipant with every id at once (it throws AddParticipantError with a status per
 * participant, or with open-wa's code); remove: removeParticipant for each id (it takes one),
 * stopping at the first refusal. Someone already in (add) or already out (remove) is no refusal.
 * Then the group is read again. A refusal is ENGINE_ERROR with open-wa's reason, naming what was
 * done before it.
 */
export async function changeParticipants(client: WaClient, budget: Budget, req: ParticipantsRequest): Promise<GroupInfo> {
  const { groupId, action } = req;
  await groupChat(client, budget, groupId);
  const ids = req.participants.map(contactChatId);
  const refusals: string[] = [];
  const done: string[] = [];
  if (action === 'add') {
    try {
      const answer = await budget.call('addParticipant()', () => client.addParticipant(groupId, ids));
      checkLicence(answer);
      const why = refusalOf('add', answer, groupId);
      if (why) refusals.push(`${ids.join(', ')} (${why})`);
    } catch (err) {
      checkLicence(err);
      const named = addRefusals(err, ids, groupId);
      if (!named) throw err;
      refusals.push(...named);
    }
  } else {
    for (const id of ids) {
      const answer = await budget.call('removeParticipant()', () => client.removeParticipant(groupId, id));
      checkLicence(answer);
      const why = refusalOf('remove', answer, groupId);
      if (why) {
        refusals.push(`${id} (${why})`);
        break;
      }
      done.push(id);
    }
  }
  if (refusals.length > 0) {
    const verb = action === 'add' ? 'add' : 'remove';
    const before = done.length > 0 ? `; removed before it: ${done.join(', ')}` : '';
    throw new AppError('ENGINE_ERROR', `WhatsApp did not ${verb} ${refusals.join(', ')} ${action === 'add' ? 'to' : 'from'} the group ${groupId}${before}`, { groupId });
  }
  return readGroup(client, budget, groupId);
}

/** getGroupInviteLink answers `https://chat.whatsapp.com/<code>` (false for a chat that is no group). */
export async function groupInviteCode(client: WaClient, budget: Budget, groupId: string): Promise<InviteCode> {
  await groupChat(client, budget, groupId);
  const link = await budget.call('getGroupInviteLink()', () => client.getGroupInviteLink(groupId));
  checkLicence(link);
  if (link === false) throw notFound(groupId);
  let code: string | undefined;
  try {
    const url = typeof link === 'string' ? new URL(link.trim()) : null;
    if (url?.hostname === 'chat.whatsapp.com') code = url.pathname.split('/').filter(Boolean).at(-1);
  } catch {
    code = undefined;
  }
  // A link WhatsApp did not fill in reads ".../undefined".
  if (!code || !/^[A-Za-z0-9_-]{6,}$/.test(code) || code === 'undefined') {
    throw new AppError('ENGINE_ERROR', `WhatsApp gave no invite link for the group ${groupId} (only its admins can have one)`);
  }
  return { code, url: `https://chat.whatsapp.com/${code}` };
}
