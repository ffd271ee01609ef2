import { AppError } from '../errors.js';
import { digitsOf, invalid, inviteCode } from './sandbox-ids.js';
import { contactChatId, type SandboxState, type StateData, type StoredGroup } from './sandbox-state.js';
import type { CreateGroupRequest, GroupInfo, InviteCode, Me, ParticipantsRequest } from './types.js';

/** WhatsApp's longest group subject. */
const MAX_GROUP_NAME = 100;

function info(group: StoredGroup): GroupInfo {
  return { id: group.id, name: group.name, participants: group.participants.map((p) => ({ ...p })), createdAt: group.createdAt };
}

function isMember(group: StoredGroup, me: Me): boolean {
  return group.participants.some((p) => p.id === me.id);
}

/** The people of a request, as chat ids, each once; a malformed one names its place in the body. */
function people(list: string[]): string[] {
  if (list.length === 0) throw invalid('body.participants', 'participants must name at least one person');
  return [...new Set(list.map((p, i) => contactChatId(p, `body.participants.${String(i)}`)))];
}

function notOnWhatsApp(ids: string[], outcome: string): AppError {
  return new AppError('ENGINE_ERROR', `${ids.join(', ')} ${ids.length === 1 ? 'is' : 'are'} not on WhatsApp: ${outcome}`, { notOnWhatsApp: ids });
}

/**
 * The groups of the simulated WhatsApp, in the sandbox's state file. A session sees the groups its
 * account is in (another number linked to the same folder later sees only its own). Only an admin
 * changes participants or gives the invite link, as on WhatsApp; the account that creates a group is
 * its admin, the people it names plain members. Adding someone already in a group, or removing
 * someone not in it, changes nothing and is no error: the answer shows the group as it is, and a
 * repeated request (a retry) does no harm.
 */
export class SandboxGroups {
  readonly #state: SandboxState;

  constructor(state: SandboxState) {
    this.#state = state;
  }

  list(me: Me): GroupInfo[] {
    return this.#state.data.groups
      .filter((g) => isMember(g, me))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map(info);
  }

  get(groupId: string, me: Me): GroupInfo {
    return info(this.#find(this.#state.data, groupId, me));
  }

  create(req: CreateGroupRequest, me: Me): Promise<GroupInfo> {
    const name = req.name.trim();
    if (!name) throw invalid('body.name', 'name must not be empty');
    if (name.length > MAX_GROUP_NAME) throw invalid('body.name', `name must be at most ${String(MAX_GROUP_NAME)} characters`);
    const members = people(req.participants).filter((id) => id !== me.id);
    if (members.length === 0) throw invalid('body.participants', 'a group needs at least one participant besides this account');
    const unknown = members.filter((id) => !this.#state.knows(id, me));
    if (unknown.length > 0) throw notOnWhatsApp(unknown, 'the group was not created');
    return this.#state.update((draft) => {
      // WhatsApp's own form: the creator's number and the creation time in seconds.
      let seconds = Math.floor(Date.now() / 1000);
      const idAt = (s: number): string => `${digitsOf(me.id)}-${String(s)}@g.us`;
      while (draft.groups.some((g) => g.id === idAt(seconds))) seconds += 1;
      const group: StoredGroup = {
        id: idAt(seconds),
        name,
        participants: [{ id: me.id, isAdmin: true }, ...members.map((id) => ({ id, isAdmin: false }))],
        createdAt: new Date().toISOString(),
        inviteCode: null,
      };
      draft.groups.push(group);
      return info(group);
    });
  }

  changeParticipants(req: ParticipantsRequest, me: Me): Promise<GroupInfo> {
    const current = this.#find(this.#state.data, req.groupId, me);
    this.#requireAdmin(current, me, 'add or remove participants');
    const ids = people(req.participants);
    if (req.action === 'remove') {
      const self = req.participants.findIndex((p) => contactChatId(p) === me.id);
      if (self >= 0) throw invalid(`body.participants.${String(self)}`, 'this account cannot remove itself from a group');
    } else {
      const unknown = ids.filter((id) => !this.#state.knows(id, me));
      if (unknown.length > 0) throw notOnWhatsApp(unknown, 'nobody was added');
    }
    return this.#state.update((draft) => {
      const group = this.#find(draft, req.groupId, me);
      this.#requireAdmin(group, me, 'add or remove participants');
      if (req.action === 'add') {
        for (const id of ids) if (!group.participants.some((p) => p.id === id)) group.participants.push({ id, isAdmin: false });
      } else {
        group.participants = group.participants.filter((p) => !ids.includes(p.id));
      }
      return info(group);
    });
  }

  inviteCode(groupId: string, me: Me): Promise<InviteCode> {
    this.#requireAdmin(this.#find(this.#state.data, groupId, me), me, "give the group's invite link");
    const link = (code: string): InviteCode => ({ code, url: `https://chat.whatsapp.com/${code}` });
    const kept = this.#find(this.#state.data, groupId, me).inviteCode;
    if (kept) return Promise.resolve(link(kept));
    return this.#state.update((draft) => {
      const group = this.#find(draft, groupId, me);
      group.inviteCode ??= inviteCode();
      return link(group.inviteCode);
    });
  }

  #find(data: StateData, groupId: string, me: Me): StoredGroup {
    const group = data.groups.find((g) => g.id === groupId);
    if (!group || !isMember(group, me)) throw new AppError('NOT_FOUND', `no group ${groupId} among this account's groups`, { groupId });
    return group;
  }

  #requireAdmin(group: StoredGroup, me: Me, what: string): void {
    if (!group.participants.some((p) => p.id === me.id && p.isAdmin)) {
      throw new AppError('ENGINE_ERROR', `only a group admin can ${what}, and this account is not an admin of ${group.id}`, { groupId: group.id });
    }
  }
}
