import path from 'node:path';
import mime from 'mime-types';
import { AppError } from '../errors.js';
import { fieldError } from './errors.js';
import { CERTAIN_TYPES, isMimeType, mimeEssence, sniffImage, sniffType } from '../util/media-types.js';

export { IMAGE_TYPES, isMimeType, sniffImage, sniffType, type ImageType } from '../util/media-types.js';

export interface DecodedMedia {
  buffer: Buffer;
  declaredType: string | undefined;
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*),/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * What a media `data` field may look like, for the schema (and so the API document): an optional
 * base64 data URL head (any case, as data URLs are), then base64 or base64url characters and line
 * breaks. decodeMedia checks the rest (one alphabet, a whole number of bytes, not empty).
 */
export const MEDIA_DATA_PATTERN = /^(?:[Dd][Aa][Tt][Aa]:[^,]*;[Bb][Aa][Ss][Ee]64,)?[A-Za-z0-9+/_=\s-]+$/;

/** A data URL or bare base64, decoded; anything that is not base64 is a 400 naming the field. */
export function decodeMedia(data: string, path = 'body.data'): DecodedMedia {
  let declaredType: string | undefined;
  let payload = data;
  const match = DATA_URL.exec(data);
  if (match) {
    if (!/;base64$/i.test(match[2] ?? '')) throw fieldError(path, 'must be a base64 data URL (data:<type>;base64,...)');
    declaredType = (match[1] ?? '').toLowerCase() || undefined;
    payload = data.slice(match[0].length);
  }
  payload = payload.replace(/\s+/g, '');
  const urlSafe = !BASE64.test(payload) && BASE64URL.test(payload);
  if ((!BASE64.test(payload) && !urlSafe) || payload.replace(/=+$/, '').length % 4 === 1) {
    throw fieldError(path, 'not valid base64');
  }
  const buffer = Buffer.from(payload, urlSafe ? 'base64url' : 'base64');
  if (buffer.length === 0) throw fieldError(path, 'empty: no bytes');
  return { buffer, declaredType };
}

export function toDataUrl(buffer: Buffer, mimetype: string): string {
  return `data:${mimetype};base64,${buffer.toString('base64')}`;
}

/** The type a file is sent with: what its data URL says, else its name's extension, else bytes. */
export function fileType(decoded: DecodedMedia, filename: string): string {
  if (decoded.declaredType && decoded.declaredType.includes('/')) return decoded.declaredType;
  const byName = mime.lookup(path.extname(filename));
  if (byName) return byName;
  return sniffImage(decoded.buffer) ?? 'application/octet-stream';
}

/**
 * The type of a received (simulated) file: its bytes decide where they can; else what its data URL
 * says, else its name's extension, else application/octet-stream. A claim of an image or a PDF
 * that the bytes deny is a 415; a claimed type that is no MIME type is a 400 naming `path`.
 */
export function incomingMediaType(decoded: DecodedMedia, filename: string, field = 'body.media.data'): string {
  if (decoded.declaredType !== undefined && !isMimeType(decoded.declaredType)) throw fieldError(field, 'the data URL names no valid MIME type');
  const declared = decoded.declaredType?.includes('/') ? decoded.declaredType : undefined;
  const byName = mime.lookup(filename) || undefined;
  const claimed = declared ?? byName;
  const sniffed = sniffType(decoded.buffer);
  if (sniffed) return claimed && mimeEssence(claimed) === sniffed ? claimed : sniffed;
  if (claimed && CERTAIN_TYPES.has(mimeEssence(claimed))) {
    throw new AppError('UNSUPPORTED_MEDIA', `${field} is not ${mimeEssence(claimed)} (checked by its bytes)`);
  }
  return claimed ?? 'application/octet-stream';
}

/** A name a browser can save a file under: no path, no control or format characters, no quotes. */
export function safeFileName(name: string | null, mimetype: string): string {
  const cleaned = (name ?? '')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}"\\/:*?<>|]/gu, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 200);
  if (cleaned) return cleaned;
  const ext = mime.extension(mimeEssence(mimetype));
  return ext ? `media.${ext}` : 'media';
}

/**
 * `Content-Disposition: attachment` (never inline: a received HTML or SVG file must not run as a
 * page of this server) with the name in ASCII and, when it is not ASCII, also UTF-8 (RFC 6266).
 */
export function attachmentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_');
  if (ascii === fileName) return `attachment; filename="${ascii}"`;
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
