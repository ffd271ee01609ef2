import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Ends every process whose command line has a browser profile (--user-data-dir) inside `folder`:
 * one session's data folder, or the whole sessions folder at boot. That is the browser and its
 * helpers. Puppeteer starts Chromium in a process group of its own, so ending the worker's group
 * does not reach it when the worker dies without closing it (SIGKILL). Linux only (/proc); a no-op
 * elsewhere. Returns the pids it signalled.
 */
export async function sweepBrowsers(folder: string): Promise<number[]> {
  const marker = `--user-data-dir=${path.resolve(folder)}${path.sep}`;
  // Chromium's crash handlers name no profile, only their database, which each session keeps in its folder.
  const crashMarker = `--database=${path.resolve(folder)}${path.sep}`;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  await Promise.all(
    entries.map(async (name) => {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) return;
      try {
        const cmdline = await readFile(`/proc/${name}/cmdline`, 'latin1');
        if (cmdline.split('\0').some((arg) => arg.startsWith(marker) || arg.startsWith(crashMarker))) found.push(Number(name));
      } catch {
        // gone already, or not ours to read
      }
    }),
  );
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found;
}
