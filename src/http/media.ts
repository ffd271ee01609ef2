import path from 'node:path';
import mime from 'mime-types';
import { fieldError } from './errors.js';

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

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

/** Identifies an image by its first bytes, whatever its name or data URL claims. */
export function sniffImage(buf: Buffer): ImageType | null {
  if (buf.length >= 8 && buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return 'image/png';
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'image/jpeg';
  if (buf.length >= 6) {
    const head = buf.subarray(0, 6).toString('latin1');
    if (head === 'GIF87a' || head === 'GIF89a') return 'image/gif';
  }
  if (buf.length >= 12 && buf.subarray(0, 4).toString('latin1') === 'RIFF' && buf.subarray(8, 12).toString('latin1') === 'WEBP') {
    return 'image/webp';
  }
  return null;
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
