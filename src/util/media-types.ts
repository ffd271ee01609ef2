/**
 * What a file is, told by its first bytes where they can tell it, whatever its name or the
 * type it claims. Shared by what the server receives and what it sends.
 */

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

/** A MIME type as it may go into a Content-Type header: `type/subtype`, optional `; name=value` parameters. */
const MIME_TOKEN = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*";
const MIME_TYPE = new RegExp(`^${MIME_TOKEN}/${MIME_TOKEN}(?:\\s*;\\s*${MIME_TOKEN}=(?:${MIME_TOKEN}|"[^"\\\\\\r\\n]*"))*$`);

export function isMimeType(value: string): boolean {
  return value.length <= 255 && MIME_TYPE.test(value);
}

/** `type/subtype` without parameters, lower case. */
export function mimeEssence(mimetype: string): string {
  return (mimetype.split(';')[0] ?? '').trim().toLowerCase();
}

/** Types sniffType() recognises with certainty: a claim of one of them that the bytes deny is refused. */
export const CERTAIN_TYPES = new Set<string>([...IMAGE_TYPES, 'application/pdf']);

/** Identifies a file by its first bytes where it can: images, PDF, Ogg, MP4, MP3, AAC, AMR, WAV, WebM. */
export function sniffType(buf: Buffer): string | null {
  const image = sniffImage(buf);
  if (image) return image;
  const head = (start: number, end: number): string => buf.subarray(start, end).toString('latin1');
  if (head(0, 5) === '%PDF-') return 'application/pdf';
  if (head(0, 4) === 'OggS') return 'audio/ogg';
  if (buf.length >= 12 && head(4, 8) === 'ftyp') return head(8, 12) === 'M4A ' ? 'audio/mp4' : 'video/mp4';
  if (head(0, 3) === 'ID3') return 'audio/mpeg';
  if (buf.length >= 12 && head(0, 4) === 'RIFF' && head(8, 12) === 'WAVE') return 'audio/wav';
  if (buf.length >= 4 && buf.readUInt32BE(0) === 0x1a45dfa3) return 'video/webm';
  if (head(0, 6) === '#!AMR\n') return 'audio/amr';
  // MPEG audio without an ID3 tag, and AAC in ADTS: a frame sync of 11 or 12 set bits (JPEG, FF D8, is told apart above).
  if (buf.length >= 2 && buf[0] === 0xff && ((buf[1] ?? 0) & 0xf6) === 0xf0) return 'audio/aac';
  if (buf.length >= 2 && buf[0] === 0xff && ((buf[1] ?? 0) & 0xe0) === 0xe0) return 'audio/mpeg';
  return null;
}


/** An Ogg file whose first stream is Opus: what WhatsApp plays as a voice note. */
export function isOggOpus(head: Buffer): boolean {
  return head.subarray(0, 4).toString('latin1') === 'OggS' && head.subarray(0, 512).includes('OpusHead', 0, 'latin1');
}
