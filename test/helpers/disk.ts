import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';

/**
 * A real full disk and a real read-only file system: a small tmpfs mounted for the test (needs
 * root, as on CI). Elsewhere the tests are skipped with the reason; under CI=true they must run.
 */
export function tryMount(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0] ?? ''}): run as root`;
  }
}

export function remount(dir: string, mode: 'ro' | 'rw'): void {
  execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' });
}

/** Undoes tryMount (read-write first, if a test left it read-only). */
export function unmount(dir: string): void {
  try {
    remount(dir, 'rw');
  } catch {
    // already read-write
  }
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
}

/** Writes until the file system says ENOSPC. */
export async function fillDisk(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 1000; i++) await handle.write(chunk);
    throw new Error('the tmpfs never filled up');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
