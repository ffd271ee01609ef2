import { SessionManager, type ManagerOptions } from '../../src/sessions/manager.js';
import { SessionStore } from '../../src/sessions/store.js';
import type { RuntimeDeps } from '../../src/worker/runtime.js';
import { captureLogger } from './env.js';
import { inProcessFactory, type InProcessWorker } from './in-process-worker.js';

/**
 * A loaded SessionManager over `dir` whose workers run in the test's process (sandbox engine by
 * default, or what `createEngine` makes), with short backoffs. The caller shuts it down.
 */
export async function testManager(
  dir: string,
  overrides: Partial<ManagerOptions> = {},
  createEngine?: RuntimeDeps['createEngine'],
): Promise<{ manager: SessionManager; workers: InProcessWorker[] }> {
  const f = inProcessFactory(createEngine);
  const manager = new SessionManager({
    store: new SessionStore(dir),
    logger: captureLogger().logger,
    maxSessions: 10,
    defaults: { engine: 'sandbox', useChrome: false, executablePath: undefined },
    workerFactory: f.factory,
    timing: { backoffBaseMs: 20, backoffMaxMs: 80, stopMs: 1000 },
    ...overrides,
  });
  await manager.load();
  return { manager, workers: f.workers };
}
