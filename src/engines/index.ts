import { rm } from 'node:fs/promises';
import path from 'node:path';
import { SandboxEngine, SANDBOX_LOGIN_FILE } from './sandbox.js';
import { findBrowser } from './wa-automate/browser.js';
import { loginPaths } from './wa-automate/login.js';
import { loginPaths as baileysLoginPaths } from './baileys/login.js';
import type { Engine, EngineContext, EngineName } from './types.js';

export interface EngineAvailability {
  available: boolean;
  browserPath: string | null;
  reason: string | null;
}

/** What the server may ask of an engine without running it. */
export interface EngineModule {
  /** Whether it runs a browser on a profile under session-data/ (processes to sweep by profile). */
  usesBrowser: boolean;
  create(ctx: EngineContext): Promise<Engine>;
  /** The files of its login inside sessionDataDir: what logout removes. */
  loginPaths(sessionDataDir: string, sessionId: string): string[];
  availability(defaults: { executablePath: string | undefined; useChrome: boolean }): EngineAvailability;
  /**
   * How it gives a pairing code: asked of the running engine ('in-place'), or only from a launch
   * that is told the phone number (EngineContext.linkCode): the session is started again for it.
   */
  pairing: 'in-place' | 'relaunch';
}

export const ENGINE_MODULES: Record<EngineName, EngineModule> = {
  sandbox: {
    usesBrowser: false,
    create: (ctx) => Promise.resolve(new SandboxEngine(ctx)),
    loginPaths: (dir) => [path.join(dir, SANDBOX_LOGIN_FILE)],
    availability: () => ({ available: true, browserPath: null, reason: null }),
    pairing: 'in-place',
  },
  'wa-automate': {
    usesBrowser: true,
    // Loaded lazily so a sandbox worker never pays for loading open-wa and puppeteer.
    create: async (ctx) => {
      const { WaAutomateEngine } = await import('./wa-automate/engine.js');
      return new WaAutomateEngine(ctx);
    },
    loginPaths,
    availability: (defaults) => {
      const browser = findBrowser(defaults);
      return browser.found
        ? { available: true, browserPath: browser.path, reason: null }
        : { available: false, browserPath: null, reason: browser.reason };
    },
    // open-wa asks WhatsApp Web for a link code only while it launches with config.linkCode
    // (controllers/initializer.js → auth.js linkCode).
    pairing: 'relaunch',
  },
  baileys: {
    usesBrowser: false,
    // Loaded lazily: Baileys (and its protobuf definitions) only in a baileys worker.
    create: async (ctx) => {
      const { BaileysEngine } = await import('./baileys/engine.js');
      return new BaileysEngine(ctx);
    },
    loginPaths: (dir) => baileysLoginPaths(dir),
    // Nothing to install or find: it is a Node library, speaking to WhatsApp over a WebSocket.
    availability: () => ({ available: true, browserPath: null, reason: null }),
    // Socket/socket.js requestPairingCode, on the socket that shows the QR code.
    pairing: 'in-place',
  },
};

export function createEngine(name: EngineName, ctx: EngineContext): Promise<Engine> {
  return ENGINE_MODULES[name].create(ctx);
}

/** Every engine's availability on this machine, for /info and the banner. */
export function engineAvailability(defaults: { executablePath: string | undefined; useChrome: boolean }): Record<EngineName, EngineAvailability> {
  const out = {} as Record<EngineName, EngineAvailability>;
  for (const [name, mod] of Object.entries(ENGINE_MODULES) as [EngineName, EngineModule][]) out[name] = mod.availability(defaults);
  return out;
}

/**
 * Removes an engine's login (after its browser is gone). The caller has checked that
 * sessionDataDir is a real folder, not a link; `rm` removes a link it meets, never its target.
 */
export async function clearLoginData(name: EngineName, sessionDataDir: string, sessionId: string): Promise<void> {
  for (const target of ENGINE_MODULES[name].loginPaths(sessionDataDir, sessionId)) {
    await rm(target, { recursive: true, force: true, maxRetries: 3 });
  }
}
