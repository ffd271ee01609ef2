import { randomBytes, randomInt } from 'node:crypto';
import { AppError } from '../errors.js';

/** The sandbox's ids and codes, shaped like WhatsApp's so integrations parse them as they will in production. */

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}

/** A message id as WhatsApp writes it: `<fromMe>_<chat>_<hex>`. */
export function messageId(fromMe: boolean, chatId: string): string {
  return `${String(fromMe)}_${chatId}_${hex(16)}`;
}

// A group message id may carry its author after the hex part (`..._<hex>_<author>@c.us`).
const MESSAGE_ID = /^(?:true|false)_(\d[\d-]*@(?:c\.us|g\.us|lid))_[0-9A-Za-z]+(?:_[^_\s]+)?$/;

/** The chat a message id belongs to, or null when it is no WhatsApp message id. */
export function chatOfMessage(id: string): string | null {
  return MESSAGE_ID.exec(id)?.[1] ?? null;
}

const USER = /^\+?(\d{5,20})(?:@(?:c\.us|s\.whatsapp\.net))?$/;

/** A person's chat id (`<digits>@c.us`) from a chat id or a phone number in digits; null otherwise. */
export function userChatId(input: string): string | null {
  const digits = USER.exec(input.trim())?.[1];
  return digits ? `${digits}@c.us` : null;
}

/** The digits of a person's chat id. */
export function digitsOf(chatId: string): string {
  return chatId.slice(0, chatId.indexOf('@'));
}

/** A 400 whose details name the field, as the HTTP layer's own validation does. */
export function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, [{ path, message }]);
}

function randomChars(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphabet[randomInt(alphabet.length)] ?? '';
  return out;
}

/** WhatsApp's pairing codes: 8 characters from A–Z and 2–9 (no 0 or 1), shown as `ABCD-EFGH`. */
const PAIRING_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789';

export function pairingCode(): string {
  const chars = randomChars(PAIRING_ALPHABET, 8);
  return `${chars.slice(0, 4)}-${chars.slice(4)}`;
}

const INVITE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A group invite code: 22 base62 characters, as in https://chat.whatsapp.com/<code>. */
export function inviteCode(): string {
  return randomChars(INVITE_ALPHABET, 22);
}

/** Runs a check-and-answer as a promise: a throw becomes the rejection, as an engine call's error. */
export function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
