import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { ResolvedSessionConfig } from '../types.js';

/** How long `<browser> --version` may take (Debian's wrapper script runs first). */
const VERSION_TIMEOUT_MS = 15_000;

/**
 * The platform part of the user agent a desktop Chrome sends today. Chrome freezes it (user-agent
 * reduction): every Linux is "X11; Linux x86_64", every Mac "Intel Mac OS X 10_15_7".
 */
function platformToken(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'Macintosh; Intel Mac OS X 10_15_7';
  if (platform === 'win32') return 'Windows NT 10.0; Win64; x64';
  return 'X11; Linux x86_64';
}

/** The version a browser's `--version` names: "Chromium 156.0.8078.108 built on Debian…" → 156.0.8078.108. */
export function parseBrowserVersion(output: string): string | undefined {
  return /\b(\d{2,4}\.\d+\.\d+\.\d+)\b/.exec(output)?.[1];
}

/**
 * What a desktop Chrome of this version says: its major version only (the rest is frozen to 0.0.0)
 * and no "Headless" marker, which a headless browser would otherwise announce to every server.
 */
export function desktopUserAgent(version: string, platform: NodeJS.Platform = process.platform): string {
  const major = version.split('.')[0] ?? version;
  return `Mozilla/5.0 (${platformToken(platform)}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
}

/** The version of the browser at `executablePath`, as it reports it. */
export function browserVersion(executablePath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(executablePath, ['--version'], { timeout: VERSION_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout) => {
      const version = parseBrowserVersion(stdout);
      if (version) resolve(version);
      else reject(new Error(`could not read the version of the browser at ${executablePath}${err ? `: ${err.message}` : ` (it answered "${stdout.trim().slice(0, 120)}")`}`));
    });
  });
}

/**
 * The user agent a session's browser sends: the session's `userAgent` when set, else the one a
 * desktop Chrome of the launched browser's own version sends.
 */
export async function sessionUserAgent(config: ResolvedSessionConfig, executablePath: string): Promise<string> {
  if (config.userAgent) return config.userAgent;
  return desktopUserAgent(await browserVersion(executablePath));
}

interface OpenWaPuppeteerConfig {
  useragent: string;
}

/**
 * open-wa overrides the page's user agent with a fixed Chrome/104 one before it navigates
 * (controllers/browser.js: `waPage.setUserAgent(customUserAgent || useragent)`, where `useragent`
 * is config/puppeteer.config.js's export; `customUserAgent` is only read in Docker mode). That
 * override also empties the page's client hints (navigator.userAgentData, Sec-CH-UA), which no
 * real Chrome does. With the export emptied, open-wa's call sets an empty override, which Chromium
 * reads as none: the page, its workers and the proxy all see the browser's own user agent, given
 * by --user-agent (see options.ts), with the client hints that go with it.
 * Process-wide, which is right: a worker runs one session.
 */
export function stopOpenWaUserAgentOverride(): void {
  const require = createRequire(import.meta.url);
  const config = require('@open-wa/wa-automate/dist/config/puppeteer.config.js') as OpenWaPuppeteerConfig;
  config.useragent = '';
}
