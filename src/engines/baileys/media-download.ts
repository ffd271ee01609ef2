import type { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import { downloadMediaMessage, type WAMessage, type WASocket } from '@whiskeysockets/baileys';
import { describeError } from '../../errors.js';
import { writeIncomingMedia } from '../incoming-media.js';
import type { EngineLog, IncomingMedia } from '../types.js';

/** How long one file may take to download and decrypt before the message goes on without it (as the wa-automate engine). */
export const MEDIA_DOWNLOAD_MS = 60_000;
/** The largest received file kept (it is held whole in the worker's memory before it is written). */
export const MAX_INCOMING_MEDIA_BYTES = 64 * 1024 * 1024;

type Log = (level: EngineLog['level'], message: string) => void;
/** Baileys' ILogger (Utils/logger.d.ts), which its index does not export. */
type ILogger = NonNullable<Parameters<typeof downloadMediaMessage>[3]>['logger'];

export interface DownloadDeps {
  mediaDir: string;
  /** The session's proxy, for http and https (src/proxy/node-agent.ts upstreamAgent); undefined: no proxy. */
  mediaAgent?: Agent | undefined;
  /** Asks the phone to upload a file again when WhatsApp's servers no longer have it (404/410). */
  sock: Pick<WASocket, 'updateMediaMessage'>;
  log: Log;
  timeoutMs?: number;
  maxBytes?: number;
}

export interface FileMeta {
  /** The message id (our notation): the file's name derives from it (incoming-media.ts). */
  id: string;
  mimetype: string;
  filename: string | null;
  /** As the sender announced it, checked before the download. */
  fileLength: number | null;
}

/** Baileys' logger for the download's one log line (Utils/messages.js: "sending reupload media request..."). */
function loggerFor(log: Log): ILogger {
  const say = (level: EngineLog['level']) => (obj: unknown, msg?: string) => log(level, `baileys: ${msg ?? (typeof obj === 'string' ? obj : 'media download')}`);
  const logger: ILogger = {
    level: 'info',
    child: () => logger,
    trace: () => undefined,
    debug: say('debug'),
    info: say('debug'),
    warn: say('warn'),
    error: say('error'),
  };
  return logger;
}

/**
 * A received file, downloaded, decrypted and kept in the session's media folder; null (logged)
 * when it cannot be: the message is delivered all the same, without its file.
 *
 * Utils/messages.js downloadMediaMessage → Utils/messages-media.js downloadContentFromMessage →
 * downloadEncryptedContent → getHttpStream: `axios.get(url, { ...options, … })` with the
 * `options` given here, so the session's proxy agent goes in as axios' httpsAgent,
 * and `proxy: false` keeps axios from applying HTTP(S)_PROXY of its own on top. Bounded: the
 * announced size before, the bytes while they stream in, and the whole by a deadline.
 */
export async function downloadFile(msg: WAMessage, meta: FileMeta, deps: DownloadDeps): Promise<IncomingMedia | null> {
  const maxBytes = deps.maxBytes ?? MAX_INCOMING_MEDIA_BYTES;
  const skip = (why: string): null => {
    deps.log('warn', `baileys: the file of message ${meta.id} is not kept: ${why}`);
    return null;
  };
  if (meta.fileLength !== null && meta.fileLength > maxBytes) return skip(`it is ${String(meta.fileLength)} bytes, more than the ${String(maxBytes)} kept`);
  const abort = new AbortController();
  // WhatsApp's media hosts are https; the agent speaks 'https:' (a plain http URL, if ever, takes the
  // worker's global agent, which routeNodeTraffic points through the same proxy).
  const agents = deps.mediaAgent ? { httpsAgent: deps.mediaAgent } : {};
  let stream: Readable | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`it took more than ${String(Math.round((deps.timeoutMs ?? MEDIA_DOWNLOAD_MS) / 1000))} s`);
      abort.abort(error);
      stream?.destroy(error);
      reject(error);
    }, deps.timeoutMs ?? MEDIA_DOWNLOAD_MS);
  });
  const download = (async () => {
    const opened = await downloadMediaMessage(
      msg,
      'stream',
      { options: { ...agents, proxy: false, signal: abort.signal } },
      {
        logger: loggerFor(deps.log),
        reuploadRequest: async (m) => ({ ...(await deps.sock.updateMediaMessage(m)), key: m.key }),
      },
    );
    // The deadline may have passed while the download opened: nothing reads this stream any more.
    if (abort.signal.aborted) {
      opened.destroy();
      throw abort.signal.reason instanceof Error ? abort.signal.reason : new Error('aborted');
    }
    stream = opened;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of opened) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      if (size > maxBytes) {
        opened.destroy();
        throw new Error(`it is more than the ${String(maxBytes)} bytes kept`);
      }
      chunks.push(bytes);
    }
    return Buffer.concat(chunks);
  })();
  try {
    const bytes = await Promise.race([download, deadline]);
    return await writeIncomingMedia(deps.mediaDir, meta.id, bytes, { mimetype: meta.mimetype, filename: meta.filename });
  } catch (err) {
    return skip(describeError(err));
  } finally {
    clearTimeout(timer);
    // A download the deadline left behind ends on its own (aborted, its stream destroyed).
    download.catch(() => undefined);
  }
}
