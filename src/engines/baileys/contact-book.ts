import type { Contact } from '@whiskeysockets/baileys';
import { chatIdOf } from './jid.js';

/** How many people are remembered (an address book of a few thousand fits many times). */
export const CONTACT_BOOK_MAX = 20_000;

interface Known {
  /** The name in the phone's address book. */
  name: string | null;
  /** The name the person chose (push name). */
  notify: string | null;
}

/**
 * What Baileys told this worker about people: its `contacts.upsert` and `contacts.update` events
 * (Types/Events.d.ts) carry the phone's address-book names (from the history sync and app-state
 * sync) and push names. Baileys keeps no contacts itself (it has no store), so without these
 * events a contact's name is unknown. In memory, bounded.
 */
export class ContactBook {
  readonly #max: number;
  readonly #people = new Map<string, Known>();

  constructor(max = CONTACT_BOOK_MAX) {
    this.#max = Math.max(1, max);
  }

  /** Both events: a contact's fields, all or some (an update carries only what changed). */
  observe(contacts: Partial<Contact>[]): void {
    for (const contact of contacts) {
      // A contact may be named by its linked id, with its number beside it (`jid`).
      const chatId = chatIdOf(contact.jid) ?? chatIdOf(contact.id);
      if (!chatId || chatId.endsWith('@g.us')) continue;
      const before = this.#people.get(chatId) ?? { name: null, notify: null };
      const text = (value: string | undefined, kept: string | null): string | null => (value === undefined ? kept : value.trim() || null);
      this.#people.delete(chatId);
      this.#people.set(chatId, { name: text(contact.name, before.name), notify: text(contact.notify, before.notify) });
      const oldest = this.#people.size > this.#max ? this.#people.keys().next().value : undefined;
      if (oldest !== undefined) this.#people.delete(oldest);
    }
  }

  get(chatId: string): Known | null {
    return this.#people.get(chatId) ?? null;
  }
}
