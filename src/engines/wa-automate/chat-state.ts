import { AppError } from '../../errors.js';
import type { PresenceRequest } from '../types.js';
import type { WaClient } from './open-wa.js';
import { licenceRefusal } from './refusals.js';
import type { Budget } from './within.js';

/** What the account shows in a chat: its messages read, typing or recording. */

function checked(answer: unknown, what: string, chatId: string): void {
  const licence = licenceRefusal(answer);
  if (licence) throw licence;
  if (answer !== true) throw new AppError('ENGINE_ERROR', `WhatsApp Web did not ${what} in ${chatId} (open-wa answered ${JSON.stringify(answer) ?? 'nothing'})`);
}

/** sendSeen answers false only for a chat that is not on this account (lib/wapi.js sendSeen): NOT_FOUND. */
export async function markSeen(client: WaClient, budget: Budget, chatId: string): Promise<void> {
  const answer = await budget.call('sendSeen()', () => client.sendSeen(chatId));
  if (answer === false) throw new AppError('NOT_FOUND', `no chat ${chatId} among this account's chats`, { chatId });
  checked(answer, 'mark the chat seen', chatId);
}

/**
 * typing: simulateTyping(chat, true) (WhatsApp's "composing"); recording: simulateRecording(chat,
 * true); paused: both off, whichever was on (each off sends WhatsApp's "paused"). Both stay on
 * until turned off or WhatsApp lets them lapse.
 */
export async function setPresence(client: WaClient, budget: Budget, req: PresenceRequest): Promise<void> {
  const { chatId, state } = req;
  if (state === 'typing') {
    checked(await budget.call('simulateTyping()', () => client.simulateTyping(chatId, true)), 'show typing', chatId);
  } else if (state === 'recording') {
    checked(await budget.call('simulateRecording()', () => client.simulateRecording(chatId, true)), 'show recording', chatId);
  } else {
    checked(await budget.call('simulateTyping()', () => client.simulateTyping(chatId, false)), 'stop typing', chatId);
    checked(await budget.call('simulateRecording()', () => client.simulateRecording(chatId, false)), 'stop recording', chatId);
  }
}
