import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import mime from 'mime-types';
import { AppError } from '../errors.js';
import type { MediaKind, MediaMessage } from '../engines/types.js';
import type { NormalizedProxy } from '../proxy/parse.js';
import { CERTAIN_TYPES, IMAGE_TYPES, isMimeType, isOggOpus, mimeEssence, sniffImage, sniffType } from '../util/media-types.js';
import { fetchMediaToFile } from './media-url.js';
import { storageError } from './store.js';

/** What a send-* route was given for its file: bytes it decoded from `data`, or a `url` to fetch. */
export type MediaSource = { bytes: Buffer; declaredType: string | undefined } | { url: string };

/** The route a file came in by: send-voice may become a voice note or an audio file. */
export type MediaRoute = 'image' | 'file' | 'video' | 'voice';

export interface OutgoingMediaInput {
  route: MediaRoute;
  chatId: string;
  source: MediaSource;
  filename?: string | undefined;
  caption?: string | undefined;
  quotedMessageId?: string | undefined;
}

export interface OutgoingMediaOptions {
  /** sessions/<id>/outgoing. */
  dir(sessionId: string): string;
  /** --max-body: no file sent by URL is larger. */
  maxBytes: number;
  /** --allow-private-urls. */
  allowPrivateUrls: boolean;
  /** The session's upstream proxy: a URL is fetched through it, as the session's browser would. */
  proxy(sessionId: string): NormalizedProxy | undefined;
  fetchTimeoutMs?: number | undefined;
}

const HEAD_BYTES = 4096;

interface Typed {
  kind: MediaKind;
  mimetype: string;
}

/**
 * A send's file, on disk in the session's outgoing folder: decoded from the request, or streamed
 * from its URL (the server never holds a fetched file in memory). The engine reads it from there,
 * so it never crosses the IPC as text; it is removed once the send (or its queued job) ended.
 */
export class OutgoingMedia {
  readonly #opts: OutgoingMediaOptions;

  constructor(opts: OutgoingMediaOptions) {
    this.#opts = opts;
  }

  async prepare(sessionId: string, input: OutgoingMediaInput): Promise<MediaMessage> {
    const dir = this.#opts.dir(sessionId);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw storageError(err, "the session's outgoing folder");
    }
    const file = path.join(dir, `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`);
    try {
      const stored = await this.#store(sessionId, file, input.source);
      const filename = cleanName(input.filename ?? stored.filename);
      const typed = outgoingType(input.route, stored.head, stored.declaredType, filename, 'url' in input.source ? 'body.url' : 'body.data');
      return {
        chatId: input.chatId,
        kind: typed.kind,
        file,
        mimetype: typed.mimetype,
        filename: filename ?? defaultName(typed.mimetype),
        size: stored.size,
        caption: input.caption,
        quotedMessageId: input.quotedMessageId,
      };
    } catch (err) {
      await this.release(file);
      throw err;
    }
  }

  /** A send's file is no longer needed; idempotent. */
  async release(file: string): Promise<void> {
    await rm(file, { force: true }).catch(() => undefined);
  }

  /**
   * Removes what no waiting send refers to (left by a crash between writing a file and queuing it).
   * `keep` is asked only when the folder holds files: at start-up most sessions have none, and then
   * no query is made for them.
   */
  async sweep(sessionId: string, keep: () => Promise<ReadonlySet<string>>): Promise<number> {
    const dir = this.#opts.dir(sessionId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
    if (names.length === 0) return 0;
    const kept = await keep();
    let removed = 0;
    for (const name of names) {
      const file = path.join(dir, name);
      if (kept.has(file)) continue;
      await this.release(file);
      removed += 1;
    }
    return removed;
  }

  async #store(
    sessionId: string,
    file: string,
    source: MediaSource,
  ): Promise<{ size: number; head: Buffer; declaredType: string | undefined; filename: string | undefined }> {
    if ('url' in source) {
      const fetched = await fetchMediaToFile({
        url: source.url,
        dest: file,
        maxBytes: this.#opts.maxBytes,
        timeoutMs: this.#opts.fetchTimeoutMs,
        proxy: this.#opts.proxy(sessionId),
        allowPrivate: this.#opts.allowPrivateUrls,
      });
      return { size: fetched.size, head: fetched.head, declaredType: fetched.contentType, filename: fetched.filename };
    }
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(source.bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw storageError(err, 'the file to send');
    }
    return { size: source.bytes.length, head: source.bytes.subarray(0, HEAD_BYTES), declaredType: source.declaredType, filename: undefined };
  }
}

/** A name the file can travel under: no path, no control characters. */
function cleanName(name: string | undefined): string | undefined {
  const cleaned = name
    ?.replace(/[\p{Cc}\p{Cf}/\\]/gu, '_')
    .trim()
    .slice(0, 255);
  return cleaned || undefined;
}

function defaultName(mimetype: string): string {
  const ext = mime.extension(mimeEssence(mimetype));
  return ext ? `file.${ext}` : 'file';
}

/**
 * The type a file is sent as: its bytes decide where they can tell it; else what it claims (its
 * data URL or Content-Type, unless a meaningless application/octet-stream), else its name's
 * extension. A claim of a type the bytes would show (an image, a PDF) that they deny is a 415.
 * Each route then takes only its own kind of file.
 */
export function outgoingType(route: MediaRoute, head: Buffer, declared: string | undefined, filename: string | undefined, field: string): Typed {
  const sniffed = sniffType(head);
  const declaredType = declared && isMimeType(declared) && mimeEssence(declared) !== 'application/octet-stream' ? declared : undefined;
  const byName = filename ? mime.lookup(filename) || undefined : undefined;
  const claimed = declaredType ?? byName;
  if (!sniffed && claimed && CERTAIN_TYPES.has(mimeEssence(claimed))) {
    throw new AppError('UNSUPPORTED_MEDIA', `${field} is not ${mimeEssence(claimed)} (checked by its bytes)`);
  }
  const mimetype = sniffed ? (claimed && mimeEssence(claimed) === sniffed ? claimed : sniffed) : (claimed ?? 'application/octet-stream');
  switch (route) {
    case 'image': {
      const image = sniffImage(head);
      if (!image || !(IMAGE_TYPES as readonly string[]).includes(image)) {
        throw new AppError('UNSUPPORTED_MEDIA', `${field} is not a PNG, JPEG, GIF or WebP image (checked by its bytes); send other files with send-file`);
      }
      return { kind: 'image', mimetype: image };
    }
    case 'video':
      if (!sniffed?.startsWith('video/')) {
        throw new AppError('UNSUPPORTED_MEDIA', `${field} is not an MP4 or WebM video (checked by its bytes); send other files with send-file`);
      }
      return { kind: 'video', mimetype: sniffed };
    case 'voice':
      if (isOggOpus(head)) return { kind: 'voice', mimetype: 'audio/ogg; codecs=opus' };
      if (!sniffed?.startsWith('audio/')) {
        throw new AppError(
          'UNSUPPORTED_MEDIA',
          `${field} is not audio (Ogg Opus for a voice note; MP3, AAC, M4A, AMR, WAV or Ogg as an audio file; checked by its bytes)`,
        );
      }
      return { kind: 'audio', mimetype: sniffed };
    case 'file':
      return { kind: 'file', mimetype };
  }
}
