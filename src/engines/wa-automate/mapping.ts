import { ACK_NAMES, type AckEvent, type EngineStatus, type IncomingMessage } from '../types.js';

/** The fields of open-wa's Message this server reads; everything else is left alone. */
export interface WaMessage {
  id?: string;
  from?: string;
  to?: string;
  chatId?: string;
  body?: string;
  type?: string;
  t?: number;
  fromMe?: boolean;
  ack?: number;
  quotedMsg?: { id?: string } | null;
  quotedMsgObj?: { id?: string } | null;
}

export function toIncoming(m: WaMessage): IncomingMessage {
  const from = String(m.from ?? '');
  return {
    id: String(m.id ?? ''),
    chatId: String(m.chatId ?? from),
    from,
    to: m.to ? String(m.to) : null,
    body: typeof m.body === 'string' ? m.body : '',
    type: String(m.type ?? 'chat'),
    timestamp: new Date(typeof m.t === 'number' ? m.t * 1000 : Date.now()).toISOString(),
    fromMe: Boolean(m.fromMe),
    quotedMessageId: m.quotedMsgObj?.id ?? m.quotedMsg?.id ?? null,
  };
}

export function toAck(m: WaMessage): AckEvent {
  const ack = typeof m.ack === 'number' ? m.ack : 0;
  return {
    messageId: String(m.id ?? ''),
    chatId: String(m.to ?? m.chatId ?? ''),
    ack,
    ackName: ACK_NAMES[String(ack) as keyof typeof ACK_NAMES] ?? String(ack),
  };
}

/** WhatsApp Web's connection states, as statuses a person can act on. */
export function fromState(state: string): EngineStatus | null {
  switch (state) {
    case 'CONNECTED':
      return { status: 'ready' };
    case 'CONFLICT':
      return { status: 'disconnected', error: 'WhatsApp is open on another computer or browser for this number (CONFLICT)' };
    case 'UNPAIRED':
    case 'UNPAIRED_IDLE':
      return { status: 'disconnected', error: `the phone unlinked this device (${state}): log out and scan a new QR code` };
    case 'UNLAUNCHED':
      return { status: 'disconnected', error: 'WhatsApp Web is not running in the browser (UNLAUNCHED)' };
    case 'TIMEOUT':
      return { status: 'disconnected', error: 'the phone does not answer: check that it is online (TIMEOUT)' };
    case 'DISCONNECTED':
      return { status: 'disconnected', error: 'the connection to WhatsApp was lost (DISCONNECTED)' };
    case 'PROXYBLOCK':
      return { status: 'failed', error: 'WhatsApp refuses connections through this proxy (PROXYBLOCK)', retryable: false };
    case 'TOS_BLOCK':
    case 'SMB_TOS_BLOCK':
      return { status: 'failed', error: `WhatsApp blocked this number for breaking its terms (${state})`, retryable: false };
    case 'DEPRECATED_VERSION':
      return { status: 'failed', error: 'WhatsApp says this WhatsApp Web version is too old (DEPRECATED_VERSION)', retryable: false };
    default:
      return null;
  }
}

/** open-wa reports success as a message id (`true_<chat>_<id>`) and failure as false or a sentence. */
export function sentMessageId(result: unknown): string | null | Error {
  if (typeof result === 'string' && /^(true|false)_/.test(result)) return result;
  if (result === true) return null;
  if (typeof result === 'string' && result.trim()) return new Error(result.trim());
  if (result instanceof Error) return result;
  return new Error('WhatsApp did not accept the message');
}

const WA_URL = 'https://web.whatsapp.com/';

/** A browser navigation error (`net::ERR_...`) as a sentence naming the URL it tried. */
export function describeStartFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const net = /net::ERR_[A-Z_]+/.exec(text);
  if (net) {
    const url = /\bat (https?:\/\/\S+)/.exec(text)?.[1] ?? WA_URL;
    return `the browser could not open ${url}: ${net[0]} (is the machine online, and its proxy reachable?)`;
  }
  if (/Browser was not found|Failed to launch the browser process|ENOENT/.test(text)) {
    return `the browser could not be launched: ${text.split('\n')[0] ?? text}`;
  }
  if (/Target closed|Session closed|Connection closed|TargetCloseError|browser has disconnected/i.test(text)) {
    return `the browser closed or crashed: ${text.split('\n')[0] ?? text}`;
  }
  return `the WhatsApp client stopped: ${text.split('\n')[0] ?? text}`;
}
