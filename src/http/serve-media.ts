import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { AppError } from '../errors.js';
import { mediaFileName } from '../engines/incoming-media.js';
import { attachmentDisposition, isMimeType, safeFileName } from './media.js';

export interface StoredMedia {
  messageId: string;
  mimetype: string;
  filename: string | null;
}

function gone(media: StoredMedia): AppError {
  return new AppError(
    'NOT_FOUND',
    `the file of message "${media.messageId}" is no longer kept (--media-retention-days) or could not be downloaded when it came`,
  );
}

/** Whether `folder` is a real folder: false for a link (never followed) or nothing there. */
async function realFolder(folder: string): Promise<boolean> {
  try {
    const info = await lstat(folder);
    return info.isDirectory();
  } catch {
    return false;
  }
}

/**
 * Streams a received file: found from the message id alone (mediaFileName) inside the session's
 * media folder, opened without following a link, never read whole. Sent as an attachment in a
 * sandbox (a received HTML or SVG file must not run as a page of this server). 404 when not there.
 */
export async function sendMediaFile(req: Request, res: Response, mediaDir: string, media: StoredMedia): Promise<void> {
  if (!(await realFolder(path.dirname(mediaDir))) || !(await realFolder(mediaDir))) throw gone(media);
  let handle: FileHandle;
  try {
    handle = await open(path.join(mediaDir, mediaFileName(media.messageId)), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw gone(media);
  }
  let streaming = false;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw gone(media);
    const type = isMimeType(media.mimetype) ? media.mimetype : 'application/octet-stream';
    res.status(200);
    res.set({
      'Content-Type': type,
      'Content-Length': String(info.size),
      'Content-Disposition': attachmentDisposition(safeFileName(media.filename, type)),
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'private, no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    streaming = true;
    // The stream closes the handle when it ends or fails; a client that goes away ends it too.
    await pipeline(handle.createReadStream(), res);
  } catch (err) {
    if (!streaming) throw err;
    // Headers are out: the only thing left to say is that the body is cut short.
    res.destroy();
  } finally {
    if (!streaming) await handle.close();
  }
}
