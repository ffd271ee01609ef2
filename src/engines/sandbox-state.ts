import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { invalid, userChatId } from './sandbox-ids.js';
import type { ContactInfo, GroupParticipant, Me, NumberStatus } from './types.js';

/**
 * The simulated WhatsApp around a sandbox session: who is on WhatsApp and which groups exist. One
 * JSON file in session-data/, written atomically; it outlives a logout (it is WhatsApp's side, not
 * the login), so a session linked again, even as another number, finds the same world.
 */
export const SANDBOX_STATE_FILE = 'sandbox-state.json';

/**
 * The simulated address book, the same in every sandbox session: 15550100001 to 15550100009
 * (`<digits>@c.us`), "Sandbox Contact 1" to "Sandbox Contact 8" and the business "Sandbox Shop"
 * (15550100009). 555-01xx numbers are reserved for fiction, so none of them is anyone's.
 */
export const SANDBOX_ADDRESS_BOOK: readonly ContactInfo[] = Array.from({ length: 9 }, (_, i) => {
  const n = i + 1;
  const name = n === 9 ? 'Sandbox Shop' : `Sandbox Contact ${String(n)}`;
  return { id: `1555010000${String(n)}@c.us`, name, pushname: name, isBusiness: n === 9 };
});

/** A number on WhatsApp beyond the address book: one that wrote to the session, or an account linked here. */
interface Person {
  pushname: string | null;
  since: string;
}

export interface StoredGroup {
  id: string;
  name: string;
  participants: GroupParticipant[];
  createdAt: string;
  /** Made on the first request and kept: a group's invite link stays the same. */
  inviteCode: string | null;
}

export interface StateData {
  people: Record<string, Person>;
  groups: StoredGroup[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isGroup(value: unknown): value is StoredGroup {
  return isRecord(value) && typeof value.id === 'string' && typeof value.name === 'string' && Array.isArray(value.participants);
}

export class SandboxState {
  readonly #file: string;
  readonly #warn: (message: string) => void;
  #data: StateData = { people: {}, groups: [] };
  /** Updates run one at a time: each starts from what the one before it committed. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(sessionDataDir: string, warn: (message: string) => void) {
    this.#file = path.join(sessionDataDir, SANDBOX_STATE_FILE);
    this.#warn = warn;
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#warn(`sandbox: the simulated contacts and groups are unreadable (${String(err)}); starting without them`);
      return;
    }
    try {
      const raw: unknown = JSON.parse(text);
      if (!isRecord(raw)) throw new Error('not an object');
      const people = isRecord(raw.people) ? (raw.people as Record<string, Person>) : {};
      const groups = Array.isArray(raw.groups) ? raw.groups.filter(isGroup).map((g) => ({ ...g, inviteCode: g.inviteCode ?? null })) : [];
      this.#data = { people, groups };
    } catch (err) {
      this.#warn(`sandbox: the simulated contacts and groups are unreadable (${String(err)}); starting without them`);
    }
  }

  /** The committed state; change it only through update(). */
  get data(): Readonly<StateData> {
    return this.#data;
  }

  /**
   * Changes the state all or nothing: `change` works on a copy and may throw (nothing changes then);
   * the copy is written, and only once it is on disk does it become the state.
   */
  update<T>(change: (draft: StateData) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const draft = structuredClone(this.#data);
      const result = change(draft);
      await writeFileAtomic(this.#file, `${JSON.stringify(draft, null, 1)}\n`);
      this.#data = draft;
      return result;
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Whether this person's chat id is on (simulated) WhatsApp. */
  knows(chatId: string, me: Me | null): boolean {
    return chatId === me?.id || SANDBOX_ADDRESS_BOOK.some((c) => c.id === chatId) || Object.hasOwn(this.#data.people, chatId);
  }

  /** Someone wrote to the session, or an account linked here: from now on that number is on WhatsApp. */
  async notePerson(chatId: string, pushname: string | null): Promise<void> {
    if (Object.hasOwn(this.#data.people, chatId) || SANDBOX_ADDRESS_BOOK.some((c) => c.id === chatId)) return;
    await this.update((draft) => {
      draft.people[chatId] ??= { pushname, since: new Date().toISOString() };
    });
  }

  checkNumber(contactId: string, me: Me | null): NumberStatus {
    const chatId = contactChatId(contactId);
    return { exists: this.knows(chatId, me), chatId };
  }

  getContact(contactId: string, me: Me | null): ContactInfo {
    const chatId = contactChatId(contactId);
    if (chatId === me?.id) return { id: chatId, name: me.name, pushname: me.name, isBusiness: false };
    const listed = SANDBOX_ADDRESS_BOOK.find((c) => c.id === chatId);
    if (listed) return { ...listed };
    const person = Object.hasOwn(this.#data.people, chatId) ? this.#data.people[chatId] : undefined;
    if (person) return { id: chatId, name: null, pushname: person.pushname, isBusiness: false };
    throw new AppError('NOT_FOUND', `${chatId} is not on WhatsApp`, { contactId: chatId });
  }
}

/** A contact is a person: `<digits>@c.us`, the digits, or a linked id `<digits>@lid` (kept as it is). */
export function contactChatId(contactId: string, field = 'params.contactId'): string {
  if (/^\d{5,25}@lid$/.test(contactId.trim())) return contactId.trim();
  const chatId = userChatId(contactId);
  if (!chatId) throw invalid(field, `${field.slice(field.indexOf('.') + 1)} must be a person's chat id such as 15550100001@c.us or a phone number in digits`);
  return chatId;
}
