import { AppError } from '../../errors.js';

/**
 * open-wa's refusals as this server's errors. open-wa says "no" with sentences (often carrying a
 * sales link with the account's number in it, which must never reach a client), with `false`, or
 * by throwing; these helpers turn each into an error a person can act on.
 */

/** Without open-wa's paid key it writes only to chats the account already has (lib/wapi.js sendMessage). */
export function notAContact(chatId: string): AppError {
  return new AppError(
    'RECIPIENT_NOT_A_CONTACT',
    `WhatsApp did not send to ${chatId}: this engine (open-wa without a licence key) writes only to chats that already exist on this account. Ask the recipient to send a message to this number first, or save their number as a contact on the phone, then send again (if they have written before, check that the number is right and uses WhatsApp).`,
    { chatId },
  );
}

/**
 * open-wa's sentence without its links: a URL goes, and so does the phrase that led to it
 * ("Unlock this feature … by getting a license: <link>" ends at "Not a contact.").
 */
export function cleanReason(reason: string): string {
  let clean = reason.replace(/https?:\/\/\S+/g, '').trim();
  // A sentence left ending in a colon only introduced the link.
  clean = clean.replace(/(^|[.!?])\s*[^.!?]*:\s*$/, '$1').trim();
  return clean;
}

export function refused(what: string, chatId: string, reason: string): AppError {
  return new AppError('ENGINE_ERROR', `WhatsApp did not send the ${what} to ${chatId}: ${cleanReason(reason) || 'open-wa refused it'}`);
}

/**
 * open-wa answered that this needs its paid licence key (api/Client.js responseWrap recognises
 * these answers as a sentence with "requires" and "license"). The engine turns it into
 * NOT_SUPPORTED_BY_ENGINE through Engine.unsupported().
 */
export class LicenceRequired extends Error {
  /** open-wa's reason, without its links. */
  readonly why: string;

  constructor(why: string) {
    super(`it needs an open-wa licence key: ${why}`);
    this.name = 'LicenceRequired';
    this.why = why;
  }
}

/** A LicenceRequired when `answer` (an answer, or an error's message) is open-wa asking for its key; else null. */
export function licenceRefusal(answer: unknown): LicenceRequired | null {
  const text = answer instanceof Error ? answer.message : answer;
  if (typeof text !== 'string' || !/\brequires?\b/i.test(text) || !/\blicen[cs]e/i.test(text)) return null;
  return new LicenceRequired(cleanReason(text) || 'open-wa asks for its licence key');
}

/** "Not a contact" in open-wa's own words (Client.js sendText's list of refusals). */
export const isNotAContact = (answer: unknown): boolean => typeof answer === 'string' && /not a contact/i.test(answer);
