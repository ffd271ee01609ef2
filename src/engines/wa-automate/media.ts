import { describeError } from '../../errors.js';
import { writeIncomingMedia } from '../incoming-media.js';
import type { EngineLog, IncomingMedia } from '../types.js';
import { idOf, type WaMessage } from './mapping.js';
import type { WaClient } from './open-wa.js';
import { within } from './within.js';

/** How long one file may take to download and decrypt before the message goes on without it. */
export const MEDIA_DOWNLOAD_MS = 60_000;
/** The largest received file kept (decryption holds it whole in the worker's memory). */
export const MAX_INCOMING_MEDIA_BYTES = 64 * 1024 * 1024;

/** Message types whose file WhatsApp keeps encrypted on its servers (location and product bodies are thumbnails only). */
const DOWNLOADABLE = new Set(['image', 'video', 'audio', 'ptt', 'document', 'sticker']);

export function carriesFile(m: WaMessage): boolean {
  return DOWNLOADABLE.has(String(m.type)) && typeof m.mimetype === 'string' && m.mimetype !== '';
}

export interface DownloadOptions {
  mediaDir: string;
  log(level: EngineLog['level'], message: string): void;
  timeoutMs?: number;
  maxBytes?: number;
}

const DATA_URL = /^data:([^;,]*)(?:;[^,]*)?;base64,/;

/**
 * A received file, downloaded with open-wa's decryptMedia and kept in the session's media folder;
 * null (logged) when it cannot be: the message is delivered all the same, without its file.
 * Bounded: WhatsApp's announced size is checked before the download, the decrypted size after,
 * and the whole has a deadline.
 */
export async function downloadMedia(client: WaClient, m: WaMessage, opts: DownloadOptions): Promise<IncomingMedia | null> {
  const id = idOf(m.id) ?? '';
  const maxBytes = opts.maxBytes ?? MAX_INCOMING_MEDIA_BYTES;
  const skip = (why: string): null => {
    opts.log('warn', `wa-automate: the file of message ${id} is not kept: ${why}`);
    return null;
  };
  if (!id) return skip('the message has no id');
  if (!client.decryptMedia) return skip('this open-wa has no decryptMedia');
  if (typeof m.size === 'number' && m.size > maxBytes) {
    return skip(`it is ${String(m.size)} bytes, more than the ${String(maxBytes)} kept`);
  }
  try {
    const dataUrl = await within(client.decryptMedia(m), opts.timeoutMs ?? MEDIA_DOWNLOAD_MS, 'decryptMedia()');
    const head = typeof dataUrl === 'string' ? DATA_URL.exec(dataUrl) : null;
    if (!head) return skip('decryptMedia() answered no data URL');
    // base64's size is known before decoding: a file past the bound is never decoded.
    const payload = dataUrl.slice(head[0].length);
    if (Math.floor((payload.length * 3) / 4) - 2 > maxBytes) return skip(`it is more than the ${String(maxBytes)} bytes kept`);
    const bytes = Buffer.from(payload, 'base64');
    if (bytes.length > maxBytes) return skip(`it is more than the ${String(maxBytes)} bytes kept`);
    const mimetype = m.mimetype ?? (head[1] || 'application/octet-stream');
    return await writeIncomingMedia(opts.mediaDir, id, bytes, { mimetype, filename: typeof m.filename === 'string' ? m.filename : null });
  } catch (err) {
    return skip(describeError(err));
  }
}
