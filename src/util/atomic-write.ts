import { open, rename, unlink } from 'node:fs/promises';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** A hidden, unique temporary name in the file's own folder (a rename there is atomic). */
function tmpBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes a file so that a crash at any moment leaves either the old or the new content:
 * temp file in the same directory, fsync, rename, then fsync of the directory.
 */
export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tmpBeside(file);
  const handle = await open(tmp, 'w', mode);
  try {
    try {
      await handle.writeFile(data, 'utf8');
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    // A full disk: the part written goes too, and the old content stays.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * writeFileAtomic for the moments when nothing asynchronous may run any more (a process about to
 * exit); on failure the temporary file is removed and the old content, if any, stays.
 */
export function writeFileAtomicSync(file: string, data: string, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = tmpBeside(file);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeFileSync(fd, data, 'utf8');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
