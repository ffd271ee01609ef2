import type { EngineContext } from '../types.js';
import { profileDir } from './login.js';
import type { Relay } from '../../proxy/relay.js';

/**
 * Chromium features switched off because they take memory in every session's browser and do
 * nothing a page can see or use (bench/wa-automate.ts measures them against the other candidates;
 * the figures, and the flags left out with the reasons, are in bench/README.md).
 */
const MEMORY_FEATURES = [
  // Headless Chromium is the whole browser without a window, and (Chromium 156) it loads the WebUI
  // of its address bar's suggestion popup and of that popup's AI-mode twin
  // (chrome://omnibox-popup.top-chrome/), each in a renderer of its own, for an address bar no one
  // can type in here: two processes, ~55 MB of the browser's PSS, ~40 MB of it its own memory.
  // Risk: none for the page, which can neither see nor reach the browser's UI.
  'WebUIOmniboxPopup',
  'WebUIOmniboxAimPopup',
  // Chromium keeps one renderer process started ahead, for the next navigation to a new site. A
  // session navigates once, to web.whatsapp.com, and stays there, so the spare sits idle for the
  // session's life: one process, ~7 MB. Risk: that navigation (and a renderer's restart) starts
  // its process on demand, some tens of ms later.
  'SpareRendererForSitePerProcess',
];

/**
 * One flag, so that it also holds where nothing merges the --disable-features (Chromium takes the
 * last one only; puppeteer merges them all into one). A Chromium without one of these features
 * ignores its name.
 */
export const MEMORY_FLAGS = [`--disable-features=${MEMORY_FEATURES.join(',')}`];

/**
 * The flags every session's browser starts with, on top of puppeteer's own defaults (which bring
 * --disable-background-networking, --no-first-run, --disable-sync, --mute-audio and
 * --disable-features=Translate,MediaRouter,OptimizationHints,…). They replace open-wa's list
 * (config/puppeteer.config.js), which ignores certificate errors, turns the sandbox and site
 * isolation off and exposes gc() to the page; what it had worth keeping is here.
 */
export const BROWSER_FLAGS = [
  // WhatsApp Web keeps running while nobody looks at it.
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  // Containers have a small /dev/shm; shared memory then goes to TMPDIR, the session's own folder.
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--disable-extensions',
  '--disable-default-apps',
  '--no-default-browser-check',
  '--disable-session-crashed-bubble',
  // Nothing but WhatsApp: no component downloads from Google, no clock queries to
  // clients2.google.com/time (puppeteer merges this list with its own --disable-features).
  '--disable-component-update',
  '--disable-features=NetworkTimeServiceQuerying',
  // No crash reports sent. Chromium (156) starts its two crashpad handlers all the same, and
  // --disable-crashpad-for-testing, which would stop them, also stops the network service from
  // working; so their database goes into the session (BREAKPAD_DUMP_LOCATION, see createConfig).
  '--disable-crash-reporter',
  '--disable-breakpad',
  ...MEMORY_FLAGS,
];

/**
 * Flags a session's own chromiumArgs may not bring back: certificate errors are never ignored
 * (an intercepting proxy would read every message), the user agent is `config.userAgent`, and
 * crash reporting stays off.
 */
const REFUSED_FLAG =
  /^--(?:ignore-certifi?cate-errors[a-z-]*|ignore-certifcate-errors[a-z-]*|ignore-urlfetcher-cert-requests|allow-insecure-localhost|user-agent|enable-crash-reporter[a-z-]*)(?:=|$)/i;

export function isRefusedFlag(flag: string): boolean {
  return REFUSED_FLAG.test(flag.trim());
}

/** What the launch needs besides the session's config (see launch.ts). */
export interface LaunchSettings {
  /** Sent by the browser everywhere (pages, workers, proxy CONNECTs). */
  userAgent: string;
  /** The browser's TMPDIR: inside the session's folder, so nothing it leaves outlives the session. */
  tmpDir: string;
  /**
   * Where Chromium's crashpad handlers keep their database (else ~/.config/chromium/Crash Reports).
   * Inside the session's folder, which their command lines (--database=…) then name, so that they
   * can be told apart from other sessions' although they run reparented to PID 1.
   */
  crashDir: string;
}

export function chromiumFlags(ctx: EngineContext, extra: string[] = [], isRoot = process.getuid?.() === 0): string[] {
  const own = ctx.config.chromiumArgs.filter((flag) => !isRefusedFlag(flag));
  const flags = [...BROWSER_FLAGS, ...extra, ...own];
  // Chromium refuses to start as root with its sandbox on; anyone else keeps the sandbox.
  if (isRoot && !flags.includes('--no-sandbox')) flags.push('--no-sandbox');
  return [...new Set(flags)];
}

/**
 * The open-wa create() config for one session. Everything that would talk to a server other than
 * WhatsApp, write outside the session's folder, print to a terminal or end the process is off:
 * the server supervises, so timeouts, restarts and the browser-close policy are ours.
 */
export function createConfig(
  ctx: EngineContext,
  executablePath: string,
  relay?: Pick<Relay, 'url' | 'login'>,
  launch?: LaunchSettings,
): Record<string, unknown> {
  const { config } = ctx;
  const flags = chromiumFlags(ctx, [
    // The browser only ever sees the session's relay, never the upstream or its credentials.
    ...(relay ? [`--proxy-server=${relay.url}`] : []),
    ...(launch ? [`--user-agent=${launch.userAgent}`] : []),
  ]);
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
    // open-wa launches with puppeteer.launch({ headless, args: [its flags, ...chromiumArgs], ...config })
    // (controllers/browser.js): `args` given here replaces its whole list, --ignore-certificate-errors
    // and --no-sandbox included. chromiumArgs says the same for whoever reads the config.
    args: flags,
    chromiumArgs: flags,
    // Puppeteer's own switch for the same thing, off (its default) whatever a later version defaults to.
    acceptInsecureCerts: false,
    ...(launch ? { env: { ...process.env, TMPDIR: launch.tmpDir, BREAKPAD_DUMP_LOCATION: launch.crashDir } } : {}),
    // Enforced by the engine (open-wa doubles qrTimeout and ignores authTimeout under multi-device).
    qrTimeout: 0,
    authTimeout: 0,
    restartOnCrash: false,
    killProcessOnBrowserClose: false,
    killProcessOnTimeout: false,
    killProcessOnBan: false,
    throwOnExpiredSessionData: true,
    // The engine owns the logout's order (unlink, end the browser, then delete the login): open-wa
    // doing it itself races the browser's close and ends the session failed instead of stopped.
    killClientOnLogout: false,
    deleteSessionDataOnLogout: false,
    // With false (open-wa's default, stated so), WhatsApp's own content policy blocks the patch's IP look-ups.
    bypassCSP: false,
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
    // Link by phone number: open-wa asks WhatsApp Web for a link code for this number instead of
    // showing a QR code (initializer.js → auth.js linkCode), only when launched with it.
    ...(ctx.linkCode ? { linkCode: ctx.linkCode } : {}),
  };
}
