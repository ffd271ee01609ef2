import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseStat } from '../metrics/proc.js';

/**
 * Ends every process whose command line has a browser profile (--user-data-dir) inside `folder`:
 * one session's data folder, or the whole sessions folder at boot. That is the browser and its
 * helpers. Puppeteer starts Chromium in a process group of its own, so ending the worker's group
 * does not reach it when the worker dies without closing it (SIGKILL). Linux only (/proc); a no-op
 * elsewhere. Returns the pids it signalled, once they are gone (at most 3 s).
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
  await gone(found, GONE_WITHIN_MS);
  return found;
}

/** How long a sweep waits for what it killed to be gone (a process in uninterruptible I/O dies late). */
const GONE_WITHIN_MS = 3_000;

/** Resolves once none of `pids` runs any more (gone, or a zombie waiting for its parent), or after `ms`. */
async function gone(pids: number[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  let left = pids;
  while (left.length > 0 && Date.now() < end) {
    const states = await Promise.all(left.map(async (pid) => ({ pid, running: await running(pid) })));
    left = states.filter((s) => s.running).map((s) => s.pid);
    if (left.length > 0) await new Promise((r) => setTimeout(r, 20));
  }
}

async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${String(pid)}/stat`, 'latin1').catch(() => undefined);
  const state = stat === undefined ? undefined : parseStat(stat)?.state;
  return state !== undefined && state !== 'Z' && state !== 'X';
}
