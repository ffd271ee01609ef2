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
