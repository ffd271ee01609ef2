import type { GroupMetadata, GroupParticipant } from '@whiskeysockets/baileys';
import { AppError, describeError } from '../../errors.js';
import type { CreateGroupRequest, EngineLog, GroupInfo, InviteCode, ParticipantsRequest } from '../types.js';
import { chatIdOf, groupJid, personJid } from './jid.js';
import { invalid, queryErrorCode } from './ops-errors.js';
import type { OpsSocket } from './ops.js';

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

/** One operation on the socket, bounded in time, its failure told as the other engines tell it (BaileysOps' own). */
export type BoundedCall = <T>(what: string, changes: boolean, fn: (sock: OpsSocket) => Promise<T>, refine?: (err: unknown) => AppError | null) => Promise<T>;

/** The group operations of the baileys engine (Socket/groups.js), on the socket and bounded calls of BaileysOps. */
export interface GroupsDeps {
  sock(): OpsSocket;
  log(level: EngineLog['level'], message: string): void;
  call: BoundedCall;
}

export class BaileysGroups {
  readonly #deps: GroupsDeps;

  constructor(deps: GroupsDeps) {
    this.#deps = deps;
  }

  /** Socket/groups.js groupFetchAllParticipating: every group this account is in, with its members. */
  async listGroups(): Promise<GroupInfo[]> {
    const groups = await this.#deps.call('list the groups', false, (sock) => sock.groupFetchAllParticipating());
    return Object.values(groups)
      .map(toGroupInfo)
      .sort((a, b) => (a.createdAt ?? '\uffff').localeCompare(b.createdAt ?? '\uffff'));
  }

  async getGroup(groupId: string): Promise<GroupInfo> {
    const jid = groupJid(groupId);
    return toGroupInfo(await this.#group(groupId, `read the group ${groupId}`, (sock) => sock.groupMetadata(jid)));
  }

  /**
   * Checks every number first (onWhatsApp, one USync query): who is not on WhatsApp is named and
   * nothing is created; the others are added as WhatsApp resolved them. Then groupCreate, then the
   * group read back (its members as WhatsApp kept them: the creation's answer lists everyone asked,
   * added or not). Once the group exists nothing fails the request (a retry would create a second
   * group): a read-back that fails is answered from the creation's answer.
   */
  async createGroup(req: CreateGroupRequest): Promise<GroupInfo> {
    const name = req.name.trim();
    if (!name) throw invalid('body.name', 'name must not be empty');
    const me = chatIdOf(this.#deps.sock().user?.id);
    const asked = [...new Set(req.participants.map((p, i) => personJid(p, `body.participants.${String(i)}`)))].filter((j) => chatIdOf(j) !== me);
    if (asked.length === 0) throw invalid('body.participants', 'a group needs at least one participant besides this account');
    const jids = await this.#onWhatsApp(asked, 'the group was not created');
    const created = await this.#deps.call(`create the group "${name}"`, true, (sock) => sock.groupCreate(name, jids));
    try {
      return toGroupInfo(await this.#deps.call(`read the new group ${created.id}`, false, (sock) => sock.groupMetadata(created.id)));
    } catch (err) {
      this.#deps.log('warn', `the group ${created.id} was created; reading it back failed (${describeError(err)}), answered from the creation`);
      return toGroupInfo(created);
    }
  }

  /**
   * The people's jids as WhatsApp resolves their numbers (Socket/chats.js onWhatsApp answers only
   * those on WhatsApp, by the jid it resolved, which for a number written with a national prefix
   * is not the one asked); linked ids as they are. Who has no answer is named, and `outcome` said.
   */
  async #onWhatsApp(jids: string[], outcome: string): Promise<string[]> {
    const numbers = jids.filter((j) => !j.endsWith('@lid'));
    if (numbers.length === 0) return jids;
    const results = await this.#deps.call('check the numbers on WhatsApp', false, (sock) => sock.onWhatsApp(...numbers));
    if (!Array.isArray(results)) throw new AppError('ENGINE_ERROR', `WhatsApp did not say whether ${numbers.map((j) => chatIdOf(j) ?? j).join(', ')} are on WhatsApp (its query gave no answer): ${outcome}`);
    const resolved = results.filter((r) => Boolean(r.exists)).map((r) => r.jid);
    const exact = new Set(resolved);
    const absent = numbers.length - resolved.length;
    if (absent > 0) {
      const unmatched = numbers.filter((j) => !exact.has(j)).map((j) => chatIdOf(j) ?? j);
      // A number WhatsApp resolved to another jid cannot be told from one it did not find.
      const who = unmatched.length === absent ? `${unmatched.join(', ')} ${absent === 1 ? 'is' : 'are'}` : `${String(absent)} of ${unmatched.join(', ')} ${absent === 1 ? 'is' : 'are'}`;
      throw new AppError('ENGINE_ERROR', `${who} not on WhatsApp: ${outcome}`, { notOnWhatsApp: unmatched });
    }
    return [...resolved, ...jids.filter((j) => j.endsWith('@lid'))];
  }

  /**
   * Socket/groups.js groupParticipantsUpdate answers a status per participant; refusals are named
   * with their reason (and who was changed meanwhile), then the group is read again.
   */
  async changeParticipants(req: ParticipantsRequest): Promise<GroupInfo> {
    const { groupId, action } = req;
    const jid = groupJid(groupId);
    if (req.participants.length === 0) throw invalid('body.participants', 'participants must name at least one person');
    const jids = [...new Set(req.participants.map((p, i) => personJid(p, `body.participants.${String(i)}`)))];
    const verb = action === 'add' ? 'add' : 'remove';
    const results = await this.#group(groupId, `${verb} participants of the group ${groupId}`, (sock) => sock.groupParticipantsUpdate(jid, jids, action), true);
    const refused: string[] = [];
    const done: string[] = [];
    for (const result of results) {
      const who = chatIdOf(result.jid) ?? result.jid ?? '?';
      const why = refusalOf(action, result.status);
      if (why) refused.push(`${who} (${why})`);
      else done.push(who);
    }
    if (refused.length > 0) {
      const meanwhile = done.length > 0 ? `; ${action === 'add' ? 'added' : 'removed'}: ${done.join(', ')}` : '';
      throw new AppError('ENGINE_ERROR', `WhatsApp did not ${verb} ${refused.join(', ')} ${action === 'add' ? 'to' : 'from'} the group ${groupId}${meanwhile}`, {
        groupId,
        refused: refused.length,
        done,
      });
    }
    return this.getGroup(groupId);
  }

  /** Socket/groups.js groupInviteCode: only a group's admins get one. */
  async groupInviteCode(groupId: string): Promise<InviteCode> {
    const jid = groupJid(groupId);
    const code = await this.#group(groupId, `give the invite link of the group ${groupId}`, (sock) => sock.groupInviteCode(jid));
    if (!code) throw new AppError('ENGINE_ERROR', `WhatsApp gave no invite link for the group ${groupId} (only its admins can have one)`, { groupId });
    return { code, url: `https://chat.whatsapp.com/${code}` };
  }

  /**
   * A group query, whose refusals WhatsApp gives as codes (Socket/groups.js groupQuery, an `iq` of
   * xmlns w:g2): 404 (no such group) and 403 (this account is not in it) read as NOT_FOUND, as the
   * other engines answer for a group the account does not have; 401 (not an admin) as a refusal.
   */
  #group<T>(groupId: string, what: string, fn: (sock: OpsSocket) => Promise<T>, changes = false): Promise<T> {
    return this.#deps.call(what, changes, fn, (err) => {
      const code = queryErrorCode(err);
      if (code === 404 || code === 403) return new AppError('NOT_FOUND', `no group ${groupId} among this account's groups`, { groupId });
      if (code === 401) return new AppError('ENGINE_ERROR', `only a group admin can do that, and this account is not an admin of ${groupId}: could not ${what}`, { groupId });
      return null;
    });
  }
}
