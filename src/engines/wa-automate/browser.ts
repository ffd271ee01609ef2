import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BrowserChoice {
  executablePath: string | undefined;
  useChrome: boolean;
}

export type BrowserLookup = { found: true; path: string; kind: 'configured' | 'chrome' | 'chromium' } | { found: false; reason: string };

export const NO_BROWSER =
  'no Chrome or Chromium found: install chromium or pass --executable-path';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (executable(file)) return file;
  }
  return undefined;
}

const CHROME = ['google-chrome-stable', 'google-chrome'];
const CHROME_PATHS = ['/opt/google/chrome/chrome', '/opt/google/chrome/google-chrome'];
const CHROMIUM = ['chromium', 'chromium-browser'];
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/snap/bin/chromium'];

/** A browser left by a puppeteer download, if someone did one on this machine (we never do). */
function puppeteerCache(): string | undefined {
  const root = process.env.PUPPETEER_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'puppeteer');
  for (const product of ['chrome', 'chromium']) {
    const dir = path.join(root, product);
    if (!existsSync(dir)) continue;
    for (const version of readdirSync(dir).sort().reverse()) {
      for (const rel of ['chrome-linux64/chrome', 'chrome-linux/chrome']) {
        const file = path.join(dir, version, rel);
        if (executable(file)) return file;
      }
    }
  }
  return undefined;
}

/**
 * Which browser a session launches: its own executablePath (or --executable-path), then an
 * installed Google Chrome when useChrome is set, then Chromium (CHROME_PATH,
 * PUPPETEER_EXECUTABLE_PATH, the usual paths, puppeteer's cache).
 */
export function findBrowser(choice: BrowserChoice): BrowserLookup {
  if (choice.executablePath) {
    return executable(choice.executablePath)
      ? { found: true, path: choice.executablePath, kind: 'configured' }
      : { found: false, reason: `the browser at ${choice.executablePath} does not exist or is not executable: ${NO_BROWSER}` };
  }
  if (choice.useChrome) {
    const chrome = CHROME.map(onPath).find(Boolean) ?? CHROME_PATHS.find(executable);
    if (chrome) return { found: true, path: chrome, kind: 'chrome' };
    return { found: false, reason: 'useChrome is set but no Google Chrome is installed (google-chrome-stable, /opt/google/chrome): install it or drop useChrome' };
  }
  const fromEnv = [process.env.CHROME_PATH, process.env.PUPPETEER_EXECUTABLE_PATH].find((p) => p && executable(p));
  const chromium = fromEnv ?? CHROMIUM.map(onPath).find(Boolean) ?? CHROMIUM_PATHS.find(executable) ?? puppeteerCache();
  if (chromium) return { found: true, path: chromium, kind: 'chromium' };
  return { found: false, reason: NO_BROWSER };
}
