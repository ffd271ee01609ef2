import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { EngineName } from '../sessions/config.js';
import { SandboxEngine } from './sandbox.js';
import type { Engine, EngineContext } from './types.js';

/** Engines are loaded lazily so a sandbox worker never pays for loading open-wa and puppeteer. */
export async function createEngine(name: EngineName, ctx: EngineContext): Promise<Engine> {
  switch (name) {
    case 'sandbox':
      return new SandboxEngine(ctx);
    case 'wa-automate': {
      const { WaAutomateEngine } = await import('./wa-automate/engine.js');
      return new WaAutomateEngine(ctx);
    }
  }
}

/**
 * Removes an engine's login (after its browser is gone): what logout leaves behind, and what a
 * logout of a session that is not running removes on its own.
 */
export async function clearLoginData(name: EngineName, sessionDataDir: string, sessionId: string): Promise<void> {
  const targets =
    name === 'sandbox'
      ? [path.join(sessionDataDir, 'sandbox-login.json')]
      : [path.join(sessionDataDir, `_IGNORE_${sessionId}`), path.join(sessionDataDir, `${sessionId}.data.json`)];
  for (const target of targets) await rm(target, { recursive: true, force: true, maxRetries: 3 });
}
