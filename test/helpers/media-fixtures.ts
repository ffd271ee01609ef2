import { randomBytes } from 'node:crypto';
import { PNG_1PX } from './fixtures.js';

/**
 * Small files whose first bytes are what the server sniffs a type from (src/util/media-types.ts):
 * each is the real head of its format, enough to be told apart, not a playable file.
 */

/** A whole 1×1 PNG. */
export const PNG = Buffer.from(PNG_1PX, 'base64');

/** A PDF of one empty catalog. */
export const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

/** An MP4 `ftyp` box (isom, mp42) and an empty `mdat`. */
export const MP4 = Buffer.concat([
  Buffer.from([0, 0, 0, 0x18]),
  Buffer.from('ftypisom', 'latin1'),
  Buffer.from([0, 0, 2, 0]),
  Buffer.from('isommp42', 'latin1'),
  Buffer.from([0, 0, 0, 8]),
  Buffer.from('mdat', 'latin1'),
]);

/** A WebM (Matroska EBML) head. */
export const WEBM = Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84, 0x77, 0x65, 0x62, 0x6d]);

/** The first Ogg page (beginning of stream) carrying one packet. */
function oggPage(packet: Buffer): Buffer {
  const header = Buffer.alloc(27);
  header.write('OggS', 0, 'latin1');
  header[4] = 0; // version
  header[5] = 0x02; // beginning of stream
  header.writeUInt32LE(0x5eed, 14); // serial number
  header[26] = 1; // one segment
  return Buffer.concat([header, Buffer.from([packet.length]), packet]);
}

/** Ogg Opus: its first packet is `OpusHead` (version 1, mono, 48 kHz): a WhatsApp voice note. */
export const OGG_OPUS = (() => {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = 1;
  head.writeUInt16LE(312, 10);
  head.writeUInt32LE(48_000, 12);
  return oggPage(head);
})();

/** Ogg Vorbis: Ogg, but not Opus (an audio file, not a voice note). */
export const OGG_VORBIS = oggPage(Buffer.concat([Buffer.from([1]), Buffer.from('vorbis', 'latin1'), Buffer.alloc(23)]));

/** An MP3: an ID3v2.4 tag head, then an MPEG-1 layer III frame header. */
export const MP3 = Buffer.concat([Buffer.from('ID3', 'latin1'), Buffer.from([4, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(32)]);

/** Plain text: no type its bytes could tell. */
export const TEXT = Buffer.from('just some words, no image, video or audio\n');

/** An HTML page. */
export const HTML = Buffer.from('<!doctype html><html><body><p>not an image</p></body></html>\n');

export function dataUrl(bytes: Buffer, type: string): string {
  return `data:${type};base64,${bytes.toString('base64')}`;
}

/**
 * `n` random bytes no sniffer takes for a type: random bytes alone start like an MP3 or AAC frame
 * (FF Ex) about once in 2,000, and the test then sees audio. The first byte is 0, which starts none.
 */
export function opaqueBytes(n: number): Buffer {
  const bytes = randomBytes(n);
  if (n > 0) bytes[0] = 0;
  return bytes;
}
