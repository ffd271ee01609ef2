import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMedia } from './types.js';

/**
 * The one rule for where a received file lives: sessions/<id>/media/<name>, the name derived from
 * the message id alone (hex of its SHA-256). Neither a sender's file name nor any other input ever
 * becomes part of a path, so the server can find the file again from a stored message's id and no
 * name can point outside the folder.
 */
export function mediaFileName(messageId: string): string {
  return createHash('sha256').update(messageId, 'utf8').digest('hex').slice(0, 40);
}

/** What mediaFileName makes, and nothing else (a retention pass or a server reading a folder checks names with it). */
export const MEDIA_FILE_PATTERN = /^[0-9a-f]{40}$/;

/**
 * Writes a received file into the session's media folder (created 0700; a link there is refused,
 * never followed): a temp file, fsync, rename, so a crash leaves the whole file or none under its
 * name. Answers the message's `media`.
 */
export async function writeIncomingMedia(
  mediaDir: string,
  messageId: string,
  bytes: Buffer,
  meta: { mimetype: string; filename: string | null },
): Promise<IncomingMedia> {
  await mkdir(mediaDir, { recursive: true, mode: 0o700 });
  const info = await lstat(mediaDir);
  if (!info.isDirectory()) throw new Error(`${mediaDir} is not a real folder (a link is never followed)`);
  const file = mediaFileName(messageId);
  const tmp = path.join(mediaDir, `.${file}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': a name that exists (a link someone put there) is an error, never followed.
  const handle = await open(tmp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path.join(mediaDir, file));
  } catch (err) {
    // A full disk: what was written of the file goes too, and gives its room back.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return { mimetype: meta.mimetype, filename: meta.filename, size: bytes.length, file };
}
