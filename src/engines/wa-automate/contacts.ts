import { AppError } from '../../errors.js';
import type { ContactInfo, NumberStatus } from '../types.js';
import { idOf } from './mapping.js';
import type { WaClient } from './open-wa.js';
import { licenceRefusal } from './refusals.js';
import { contactChatId } from './requests.js';
import type { Budget } from './within.js';

/** Reading about people: whether a number uses WhatsApp, and what the account knows of a contact. */

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

function digitsOf(chatId: string): string {
  return chatId.slice(0, chatId.indexOf('@'));
}

/**
 * checkNumberStatus asks WhatsApp's server (lib/wapi.js: WapQuery.queryExist) and answers a
 * NumberCheck: status 200 with the number's id (which may differ from what was asked, for a
 * number written with a national prefix), 404 for a number not on WhatsApp, and the caught error
 * as `status` when the query failed, which says nothing either way.
 */
export async function checkNumber(client: WaClient, budget: Budget, contactId: string): Promise<NumberStatus> {
  const asked = contactChatId(contactId);
  const fallback = `${digitsOf(asked)}@c.us`;
  const answer = await budget.call('checkNumberStatus()', () => client.checkNumberStatus(asked));
  const licence = licenceRefusal(answer);
  if (licence) throw licence;
  if (typeof answer === 'object' && answer !== null) {
    if (answer.numberExists === true || answer.status === 200) return { exists: true, chatId: idOf(answer.id) ?? fallback };
    if (answer.status === 404) return { exists: false, chatId: fallback };
  }
  throw new AppError('ENGINE_ERROR', `WhatsApp did not say whether ${fallback} is on WhatsApp (its query failed): try again later`);
}

/**
 * getContact answers what this account's WhatsApp Web holds on a contact (lib/wapi.js
 * Store.Contact.get), null for one it does not know: NOT_FOUND. `name` is the address book's,
 * `pushname` the one the person chose.
 */
export async function getContact(client: WaClient, budget: Budget, contactId: string): Promise<ContactInfo> {
  const chatId = contactChatId(contactId);
  const contact = await budget.call('getContact()', () => client.getContact(chatId));
  const licence = licenceRefusal(contact);
  if (licence) throw licence;
  if (typeof contact !== 'object' || contact === null) {
    throw new AppError('NOT_FOUND', `this account knows no contact ${chatId} (no chat with them and not in the phone's address book)`, { contactId: chatId });
  }
  return {
    id: idOf(contact.id) ?? chatId,
    name: text(contact.name),
    pushname: text(contact.pushname),
    isBusiness: contact.isBusiness === true,
  };
}
