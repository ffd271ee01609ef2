import type { EngineContext } from '../types.js';
import { profileDir } from './login.js';
import type { Relay } from '../../proxy/relay.js';

/**
 * Flags every session's browser gets on top of open-wa's and puppeteer's own (which already carry
 * --disable-background-networking, --no-first-run, --disable-sync and, for root, --no-sandbox).
 */
export const BASE_CHROMIUM_FLAGS = ['--disable-component-update'];

export function chromiumFlags(ctx: EngineContext, extra: string[] = []): string[] {
  const flags = [...BASE_CHROMIUM_FLAGS, ...extra, ...ctx.config.chromiumArgs];
  // Chromium refuses to start as root with its sandbox on.
  if (process.getuid?.() === 0 && !flags.includes('--no-sandbox')) flags.push('--no-sandbox');
  return [...new Set(flags)];
}

/**
 * The open-wa create() config for one session. Everything that would talk to a server other than
 * WhatsApp, write outside the session's folder, print to a terminal or end the process is off:
 * the server supervises, so timeouts, restarts and the browser-close policy are ours.
 */
export function createConfig(ctx: EngineContext, executablePath: string, relay?: Pick<Relay, 'url' | 'login'>): Record<string, unknown> {
  const { config } = ctx;
  return {
    sessionId: ctx.sessionId,
    sessionDataPath: ctx.sessionDataDir,
    // open-wa picks this profile itself only with multiDevice; given always, the login stays in the
    // session's folder (and the sweep finds its browser) either way.
    userDataDir: profileDir(ctx.sessionDataDir, ctx.sessionId),
    multiDevice: config.multiDevice,
    headless: config.headless,
    executablePath,
    useChrome: false,
    // The browser only ever sees the session's relay, never the upstream or its credentials.
    chromiumArgs: chromiumFlags(ctx, relay ? [`--proxy-server=${relay.url}`] : []),
    // Enforced by the engine (open-wa doubles qrTimeout and ignores authTimeout under multi-device).
    qrTimeout: 0,
    authTimeout: 0,
    restartOnCrash: false,
    killProcessOnBrowserClose: false,
    killProcessOnTimeout: false,
    killProcessOnBan: false,
    throwOnExpiredSessionData: true,
    killClientOnLogout: true,
    deleteSessionDataOnLogout: true,
    skipUpdateCheck: true,
    skipBrokenMethodsCheck: true,
    skipSessionSave: true,
    disableSpins: true,
    logDebugInfoAsObject: true,
    qrLogSkip: true,
    popup: false,
    ezqr: false,
    autoEmoji: false,
    cachedPatch: false,
    logConsole: false,
    logConsoleErrors: false,
    screenshotOnInitializationBrowserError: false,
    blockCrashLogs: true,
    // open-wa hands these to page.authenticate() before it navigates (controllers/browser.js), so
    // the browser logs in to the relay, which refuses everyone else. useNativeProxy keeps the
    // traffic in the browser: without it open-wa re-sends every page request from Node through
    // smashah-puppeteer-page-proxy (and WebSockets not at all).
    ...(relay ? { proxyServerCredentials: { address: relay.url, username: relay.login.username, password: relay.login.password } } : {}),
    useNativeProxy: true,
  };
}
