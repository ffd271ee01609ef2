/**
 * WhatsApp chat ids: `<digits>@c.us` for people, `<id>@g.us` for groups. A bare phone number in
 * any usual notation (`+1 234-567 890`) becomes `<digits>@c.us`.
 */
const USER = /^(\d{5,20})@(?:c\.us|s\.whatsapp\.net)$/;
const GROUP = /^\d{5,25}(?:-\d{5,15})?@g\.us$/;
/** WhatsApp's linked ids, which some senders have instead of a phone number. */
const LID = /^\d{5,25}@lid$/;
const PHONE = /^\+?[\d\s().-]+$/;

export const CHAT_ID_HINT = 'a chat id such as 1234567890@c.us or 123456789-1612345678@g.us, a linked id such as 123456789012345@lid, or a phone number';

export function normalizeChatId(input: string): string | null {
  const value = input.trim();
  const user = USER.exec(value);
  if (user) return `${user[1] ?? ''}@c.us`;
  if (GROUP.test(value) || LID.test(value)) return value;
  if (PHONE.test(value)) {
    const digits = value.replace(/\D/g, '');
    if (digits.length >= 5 && digits.length <= 20) return `${digits}@c.us`;
  }
  return null;
}
